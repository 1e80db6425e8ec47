"""Pulumi CrossGuard entry point: `pulumi preview --policy-pack policies --policy-pack-config ...`.

Only constructs the pack: constructing a PolicyPack starts the analyzer's gRPC server and blocks.
The rules live in the importable `guardrails` package (policies/ is sys.path[0] here).
"""

from guardrails import PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
