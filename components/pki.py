"""ClusterPki: the K3s cluster's CAs, admin client certificate and join token, made by Pulumi.

Because Pulumi generates the CAs, the secure join token (`K10<sha256 of the root CA DER>::server:
<secret>`) and an admin kubeconfig are known before any server exists: no SSH, no scp, and all
servers can be created at once. K3s reads the CA files from disk on the first server's first
start ("bring your own CA") and copies them to the other servers through etcd.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass

import pulumi
import pulumi_random as random
import pulumi_tls as tls

from components.base import type_token

# The intermediate CAs K3s expects under /var/lib/rancher/k3s/server/tls/.
CA_ROLES = ("server-ca", "client-ca", "request-header-ca", "etcd/peer-ca", "etcd/server-ca")
ROOT_VALIDITY_HOURS = 20 * 365 * 24
INTERMEDIATE_VALIDITY_HOURS = 10 * 365 * 24
ADMIN_VALIDITY_HOURS = 365 * 24
# `pulumi up` within this window before expiry re-issues the admin certificate.
ADMIN_EARLY_RENEWAL_HOURS = 30 * 24
CA_USES = ["cert_signing", "crl_signing", "digital_signature"]


def ca_hash(root_ca_pem: str) -> str:
    """What K3s compares the token's hash with for a multi-certificate CA bundle: sha256 of the
    root certificate's DER (pkg/clientaccess/token.go, hashCA)."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(root_ca_pem)).hexdigest()


def secure_token(root_ca_pem: str, secret: str) -> str:
    return f"K10{ca_hash(root_ca_pem)}::server:{secret}"


def _as_file(path: str, pem: pulumi.Output[str]) -> pulumi.Output[tuple[str, str]]:
    return pem.apply(lambda text: (path, text))


@dataclass(frozen=True)
class ClusterPkiArgs:
    cluster_name: str
    protect: bool
    """Protect the CAs, the service-account key and the token secret (prod). Replacing any of
    them re-keys the cluster: every node, kubeconfig and service-account token stops working.
    The admin client certificate is not protected: it rotates (early_renewal_hours)."""


class ClusterPki(pulumi.ComponentResource):
    root_ca_pem: pulumi.Output[str]
    server_ca_bundle_pem: pulumi.Output[str]
    """server-ca + root: what kubeconfig and clients trust."""
    ca_files: pulumi.Output[list[tuple[str, str]]]
    """(path under server/tls, PEM) for the bootstrap server; secret."""
    token: pulumi.Output[str]
    admin_cert_pem: pulumi.Output[str]
    admin_key_pem: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterPkiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("pki", "ClusterPki"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The cluster's identity: a replacement would lock every node out (see ClusterPkiArgs).
        identity = pulumi.ResourceOptions(parent=self, protect=args.protect)

        def key(role: str, opts: pulumi.ResourceOptions = identity) -> tls.PrivateKey:
            return tls.PrivateKey(
                f"{name}-{role.replace('/', '-')}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=opts
            )

        root_key = key("root-ca")
        root = tls.SelfSignedCert(
            f"{name}-root-ca",
            private_key_pem=root_key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=f"{args.cluster_name}-root-ca", organization="honeydue"),
            is_ca_certificate=True,
            set_subject_key_id=True,
            validity_period_hours=ROOT_VALIDITY_HOURS,
            allowed_uses=CA_USES,
            opts=identity,
        )
        self.root_ca_pem = root.cert_pem

        files: list[pulumi.Output[tuple[str, str]]] = []
        intermediates: dict[str, tuple[tls.PrivateKey, pulumi.Output[str], pulumi.Output[str]]] = {}
        for role in CA_ROLES:
            ca_key = key(role)
            csr = tls.CertRequest(
                f"{name}-{role.replace('/', '-')}-csr",
                private_key_pem=ca_key.private_key_pem,
                subject=tls.CertRequestSubjectArgs(common_name=f"{args.cluster_name}-{role.replace('/', '-')}"),
                opts=identity,
            )
            cert = tls.LocallySignedCert(
                f"{name}-{role.replace('/', '-')}",
                cert_request_pem=csr.cert_request_pem,
                ca_cert_pem=root.cert_pem,
                ca_private_key_pem=root_key.private_key_pem,
                is_ca_certificate=True,
                set_subject_key_id=True,
                validity_period_hours=INTERMEDIATE_VALIDITY_HOURS,
                allowed_uses=CA_USES,
                opts=identity,
            )
            # server-ca.crt is the CA followed by the root: /cacerts serves it, and for a bundle
            # K3s hashes the root's DER for the token, so the token survives CA renewal. The other
            # CAs are only trust anchors (Go trusts any certificate in its pool), so they ship
            # alone: the root repeated four more times would cost 2.2 KB of the 16 KiB user_data.
            bundle = pulumi.Output.concat(cert.cert_pem, root.cert_pem) if role == "server-ca" else cert.cert_pem
            intermediates[role] = (ca_key, cert.cert_pem, bundle)
            files.append(_as_file(f"{role}.crt", bundle))
            files.append(_as_file(f"{role}.key", ca_key.private_key_pem))
        # ECDSA: kube-apiserver signs service-account tokens with ES256 as well as RS256, and the
        # key is 1.4 KB smaller than RSA-2048 in the first server's user_data.
        service_key = key("service")
        files.append(_as_file("service.key", service_key.private_key_pem))
        self.ca_files = pulumi.Output.secret(pulumi.Output.all(*files).apply(list))
        self.server_ca_bundle_pem = intermediates["server-ca"][2]

        client_ca_key, client_ca_cert, _ = intermediates["client-ca"]
        admin_key = key("admin", child)
        admin_csr = tls.CertRequest(
            f"{name}-admin-csr",
            private_key_pem=admin_key.private_key_pem,
            # O=system:masters makes the holder cluster-admin.
            subject=tls.CertRequestSubjectArgs(common_name="honeydue-admin", organization="system:masters"),
            opts=child,
        )
        admin = tls.LocallySignedCert(
            f"{name}-admin",
            cert_request_pem=admin_csr.cert_request_pem,
            ca_cert_pem=client_ca_cert,
            ca_private_key_pem=client_ca_key.private_key_pem,
            validity_period_hours=ADMIN_VALIDITY_HOURS,
            early_renewal_hours=ADMIN_EARLY_RENEWAL_HOURS,
            allowed_uses=["client_auth", "digital_signature", "key_encipherment"],
            opts=child,
        )
        self.admin_cert_pem = admin.cert_pem
        self.admin_key_pem = pulumi.Output.secret(admin_key.private_key_pem)

        token_secret = random.RandomPassword(f"{name}-token-secret", length=48, special=False, opts=identity)
        # Explicitly secret: additional_secret_outputs are not simulated by the mock runtime,
        # and the token must never be plain anywhere.
        self.token = pulumi.Output.secret(
            pulumi.Output.all(root.cert_pem, token_secret.result).apply(lambda v: secure_token(v[0], v[1]))
        )
        self.register_outputs({"root_ca_pem": self.root_ca_pem})
