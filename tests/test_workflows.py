"""The GitHub workflows: real linters (actionlint, yamllint) and the delivery rules, each rule shown
to fail on a mutated copy of the real workflow."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
PULUMI_ACTION = "pulumi/actions"
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
# Scripts written by other engineers that the workflows call before they land on main.
PENDING_TOOLS: set[str] = set()

Doc = dict[str, Any]


def load(name: str) -> Doc:
    doc: Doc = yaml.safe_load((WORKFLOWS / name).read_text())
    return doc


def triggers(doc: Doc) -> Any:
    """`on:` parses as the boolean True under YAML 1.1 (PyYAML); accept both spellings."""
    return doc.get("on", doc.get(True))


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))


def steps(doc: Doc) -> list[Doc]:
    return [step for job in (doc.get("jobs") or {}).values() for step in job.get("steps") or []]


def stack_files(root: Path = ROOT) -> set[str]:
    return {p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml")}


# --- the rules, as functions returning problems (tests feed them real and mutated documents) ----


def unpinned_actions(doc: Doc) -> list[str]:
    refs = [s["uses"] for s in steps(doc) if "uses" in s]
    refs += [job["uses"] for job in (doc.get("jobs") or {}).values() if "uses" in job]
    return [ref for ref in refs if not ref.startswith("./") and not SHA_PIN.match(ref)]


def uses_lines_without_version(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        m = USES_LINE.match(line)
        if m and not m["ref"].startswith("./") and not re.search(r"#\s*v\d+(\.\d+)*\b", m["rest"]):
            out.append(line.strip())
    return out


def forbidden_triggers(doc: Doc) -> list[str]:
    on = triggers(doc)
    names = [on] if isinstance(on, str) else list(on or [])
    return [n for n in names if n == "pull_request_target"]


def missing_permissions(doc: Doc) -> list[str]:
    return [] if "permissions" in doc else ["no top-level permissions"]


def expressions_in_run(doc: Doc) -> list[str]:
    """Every value reaches a script through env; no `${{ }}` is pasted into shell text."""
    return [s.get("name", s["run"][:40]) for s in steps(doc) if "run" in s and "${{" in s["run"]]


def pack_runs(doc: Doc) -> list[tuple[str, str, str, str]]:
    """(job, command, stack-name, policy config) for every Pulumi action step that runs the pack."""
    out = []
    for job_name, job in (doc.get("jobs") or {}).items():
        for s in job.get("steps") or []:
            if str(s.get("uses", "")).startswith(PULUMI_ACTION + "@") and "command" in (s.get("with") or {}):
                w = s["with"]
                if w.get("policyPacks") == "policies":
                    out.append((job_name, w["command"], str(w.get("stack-name")), str(w.get("policyPackConfigs"))))
    return out


def preview_list_script(doc: Doc) -> str:
    (script,) = [s["run"] for s in doc["jobs"]["stacks"]["steps"] if s.get("id") == "list"]
    return str(script)


def run_stack_list(doc: Doc, root: Path, tmp: Path) -> list[str]:
    """Run the preview workflow's own stack-listing script over ``root`` and read its output."""
    out = tmp / "github_output"
    out.write_text("")
    proc = subprocess.run(
        ["bash", "-e", "-c", preview_list_script(doc)],
        cwd=root,
        env={**os.environ, "GITHUB_OUTPUT": str(out)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = [ln for ln in out.read_text().splitlines() if ln.startswith("stacks=")]
    return list(yaml.safe_load(line.removeprefix("stacks=")))


def preview_problems(doc: Doc) -> list[str]:
    """The matrix takes the listed stacks and each leg previews its stack with its policy config."""
    problems = []
    job = doc["jobs"].get("preview") or {}
    matrix = ((job.get("strategy") or {}).get("matrix") or {}).get("stack")
    if matrix != "${{ fromJSON(needs.stacks.outputs.stacks) }}":
        problems.append(f"matrix.stack is {matrix!r}, not the stacks job's list")
    runs = [r for r in pack_runs(doc) if r[0] == "preview" and r[1] == "preview"]
    want = ("preview", "preview", "${{ matrix.stack }}", "policies/config.${{ matrix.stack }}.json")
    if runs != [want]:
        problems.append(f"preview job runs {runs}, want {[want]}")
    if "pull_request" not in (triggers(doc) or {}):
        problems.append("preview does not run on pull_request")
    return problems


def environment_name(job: Doc) -> str | None:
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


def deploy_problems(doc: Doc) -> list[str]:
    problems = []
    runs = {(r[2], r[3]) for r in pack_runs(doc) if r[1] == "up"}
    for stack in ("staging", "prod"):
        if (stack, f"policies/config.{stack}.json") not in runs:
            problems.append(f"no `pulumi up` of {stack} with its policy config")
    prod_jobs = [name for name, _, stack, _ in pack_runs(doc) if stack == "prod"]
    for name in prod_jobs:
        job = doc["jobs"][name]
        if environment_name(job) != "prod":
            problems.append(f"job {name} deploys prod without the `prod` environment")
        if "staging" not in ([job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs") or []):
            problems.append(f"job {name} does not wait for staging")
    if not prod_jobs:
        problems.append("no prod deploy")
    return problems


def close_after_open_problems(doc: Doc) -> list[str]:
    """A job that opens 6443 to its runner closes it in a later `if: always()` step."""
    problems = []
    for name, job in (doc.get("jobs") or {}).items():
        runs = [(i, s) for i, s in enumerate(job.get("steps") or []) if "tools/ci_access.py" in s.get("run", "")]
        opens = [i for i, s in runs if " open " in s["run"]]
        closes = [i for i, s in runs if " close " in s["run"] and str(s.get("if", "")).strip() == "always()"]
        if opens and not (closes and max(closes) > max(opens)):
            problems.append(f"job {name} opens the ci-access firewall and never closes it in an always() step")
    return problems


def unpinned_containers(doc: Doc) -> list[str]:
    """Job containers and services run images pinned by digest."""
    images = []
    for job in (doc.get("jobs") or {}).values():
        for spec in [job.get("container"), *(job.get("services") or {}).values()]:
            if spec:
                images.append(spec if isinstance(spec, str) else spec.get("image", ""))
    return [i for i in images if not re.search(r"@sha256:[0-9a-f]{64}$", i)]


def pack_prerequisite_problems(doc: Doc) -> list[str]:
    """Before a job runs the pack: cosign installed, the venv made and cosign logged in, 6443 open."""
    problems = []
    for name, job in (doc.get("jobs") or {}).items():
        job_steps = job.get("steps") or []
        packs = [i for i, s in enumerate(job_steps) if _is_pack(s) and (s.get("with") or {}).get("policyPacks")]
        if not packs:
            continue
        first = min(packs)
        wanted = {
            "cosign installed": lambda s: str(s.get("uses", "")).startswith("sigstore/cosign-installer@"),
            "registry login": lambda s: "tools/ci-prepare.sh" in s.get("run", ""),
            "ci-access open": lambda s: "tools/ci_access.py open" in s.get("run", ""),
        }
        for what, predicate in wanted.items():
            if not any(predicate(s) for s in job_steps[:first]):
                problems.append(f"job {name}: no {what} before the pack runs")
    return problems


def release_order_problems(doc: Doc) -> list[str]:
    """The release job checks the image with tools/release_image.py before it writes any config."""
    job_steps = doc["jobs"]["propose"]["steps"]
    checks = [i for i, s in enumerate(job_steps) if "tools/release_image.py" in s.get("run", "")]
    writes = [i for i, s in enumerate(job_steps) if "pulumi config set" in s.get("run", "")]
    if not checks or not writes:
        return [f"release job: check steps {checks}, write steps {writes}"]
    if max(checks) > min(writes):
        return ["release job writes config before checking the image"]
    on = triggers(doc) or {}
    if "image" not in ((on.get("workflow_dispatch") or {}).get("inputs") or {}):
        return ["release workflow takes no image input"]
    return []


# --- the real workflows -------------------------------------------------------------------------


def test_there_are_the_four_workflows() -> None:
    assert {p.name for p in workflow_files()} == {"ci.yml", "preview.yml", "deploy.yml", "release.yml"}


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_workflow_rules(path: Path) -> None:
    doc = load(path.name)
    assert unpinned_actions(doc) == []
    assert uses_lines_without_version(path.read_text()) == []
    assert forbidden_triggers(doc) == []
    assert missing_permissions(doc) == []
    assert expressions_in_run(doc) == []
    assert close_after_open_problems(doc) == []
    assert unpinned_containers(doc) == []
    assert pack_prerequisite_problems(doc) == []


def test_ci_runs_make_test_in_a_digest_pinned_debian_container() -> None:
    doc = load("ci.yml")
    job = doc["jobs"]["test"]
    assert job["container"]["image"].startswith("debian:")
    assert "--privileged" in job["container"]["options"]  # the boot test's namespaces and mounts
    assert any(s.get("run") == "bash .ci/run" for s in job["steps"])
    assert set(triggers(doc)) == {"push", "pull_request"}


def test_release_checks_before_it_writes() -> None:
    assert release_order_problems(load("release.yml")) == []


def test_every_local_script_a_workflow_runs_exists() -> None:
    for path in workflow_files():
        for script in re.findall(r"\btools/[\w.-]+\.(?:py|sh)\b", path.read_text()):
            assert script in PENDING_TOOLS or (ROOT / script).is_file(), f"{path.name} runs missing {script}"


def test_preview_runs_the_pack_for_every_stack_file(tmp_path: Path) -> None:
    doc = load("preview.yml")
    assert preview_problems(doc) == []
    stacks = run_stack_list(doc, ROOT, tmp_path)
    assert sorted(stacks) == sorted(stack_files()) and len(stacks) >= 2
    for stack in stacks:
        assert (ROOT / "policies" / f"config.{stack}.json").is_file()


def test_preview_lists_a_new_stack_and_refuses_one_without_policy_config(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    for stack in stack_files():
        shutil.copy(ROOT / f"Pulumi.{stack}.yaml", repo)
        shutil.copy(ROOT / "policies" / f"config.{stack}.json", repo / "policies")
    (repo / "Pulumi.qa.yaml").write_text("config: {}\n")
    (repo / "policies" / "config.qa.json").write_text("{}\n")
    doc = load("preview.yml")
    assert sorted(run_stack_list(doc, repo, tmp_path)) == sorted({*stack_files(), "qa"})
    (repo / "policies" / "config.qa.json").unlink()
    with pytest.raises(AssertionError, match=r"config\.qa\.json"):
        run_stack_list(doc, repo, tmp_path)
    (repo / "policies" / "config.qa.json").write_text("{}\n")
    (repo / 'Pulumi.x",y.yaml').write_text("config: {}\n")  # would inject a matrix entry
    with pytest.raises(AssertionError, match="stack name must match"):
        run_stack_list(doc, repo, tmp_path)


def test_deploy_gates_prod_behind_an_environment() -> None:
    doc = load("deploy.yml")
    assert deploy_problems(doc) == []
    assert list(triggers(doc)) == ["push"] and triggers(doc)["push"]["branches"] == ["main"]


# --- each rule can fail: mutated copies ---------------------------------------------------------


def _mutate(name: str, change: Callable[[Doc], None]) -> Doc:
    doc = copy.deepcopy(load(name))
    change(doc)
    return doc


def _step(doc: Doc, job: str, predicate: Callable[[Doc], bool]) -> Doc:
    (step,) = [s for s in doc["jobs"][job]["steps"] if predicate(s)]
    return step


def _is_pack(step: Doc) -> bool:
    return str(step.get("uses", "")).startswith(PULUMI_ACTION + "@") and "command" in step.get("with", {})


def test_rules_fail_on_mutated_workflows() -> None:
    tag = _mutate("ci.yml", lambda d: d["jobs"]["test"]["steps"][1].update(uses="actions/checkout@v7"))
    assert unpinned_actions(tag) == ["actions/checkout@v7"]
    short = _mutate("ci.yml", lambda d: d["jobs"]["test"]["steps"][1].update(uses="actions/checkout@3d3c42e"))
    assert unpinned_actions(short)
    assert uses_lines_without_version("      - uses: actions/checkout@" + "a" * 40 + "\n")

    prt = _mutate("preview.yml", lambda d: d.__setitem__(True, {"pull_request_target": {}}))
    assert forbidden_triggers(prt) == ["pull_request_target"]
    assert forbidden_triggers({"on": "pull_request_target"}) == ["pull_request_target"]

    assert missing_permissions(_mutate("deploy.yml", lambda d: d.pop("permissions")))

    def inject(d: Doc) -> None:
        _step(d, "propose", lambda s: s.get("id") == "check")["run"] += '\necho "${{ inputs.image }}"'

    assert expressions_in_run(_mutate("release.yml", inject))
    assert expressions_in_run(
        _mutate(
            "preview.yml",
            lambda d: d["jobs"]["stacks"]["steps"][1].update(run='echo "${{ github.event.pull_request.title }}"'),
        )
    )

    no_close = _mutate("deploy.yml", lambda d: d["jobs"]["prod"]["steps"][-1].pop("if"))
    assert close_after_open_problems(no_close) == [
        "job prod opens the ci-access firewall and never closes it in an always() step"
    ]


def test_container_prerequisite_and_release_rules_fail_on_mutations() -> None:
    tagged = _mutate("ci.yml", lambda d: d["jobs"]["test"]["container"].update(image="debian:bookworm"))
    assert unpinned_containers(tagged) == ["debian:bookworm"]

    def drop(job: str, predicate: Callable[[Doc], bool]) -> Callable[[Doc], None]:
        return lambda d: d["jobs"][job]["steps"].remove(_step(d, job, predicate))

    no_cosign = _mutate("preview.yml", drop("preview", lambda s: "cosign-installer" in s.get("uses", "")))
    assert pack_prerequisite_problems(no_cosign) == ["job preview: no cosign installed before the pack runs"]
    no_login = _mutate("deploy.yml", drop("prod", lambda s: "ci-prepare.sh" in s.get("run", "")))
    assert pack_prerequisite_problems(no_login) == ["job prod: no registry login before the pack runs"]
    no_open = _mutate("deploy.yml", drop("staging", lambda s: "ci_access.py open" in s.get("run", "")))
    assert "job staging: no ci-access open before the pack runs" in pack_prerequisite_problems(no_open)

    def write_first(d: Doc) -> None:
        job_steps = d["jobs"]["propose"]["steps"]
        check = _step(d, "propose", lambda s: s.get("id") == "check")
        job_steps.remove(check)
        job_steps.append(check)

    assert release_order_problems(_mutate("release.yml", write_first)) == [
        "release job writes config before checking the image"
    ]


def test_preview_rule_fails_on_mutations() -> None:
    fixed = _mutate("preview.yml", lambda d: d["jobs"]["preview"]["strategy"]["matrix"].update(stack=["prod"]))
    assert preview_problems(fixed)
    no_pack = _mutate("preview.yml", lambda d: _step(d, "preview", _is_pack)["with"].pop("policyPacks"))
    assert preview_problems(no_pack)
    wrong_cfg = _mutate(
        "preview.yml",
        lambda d: _step(d, "preview", _is_pack)["with"].update(policyPackConfigs="policies/config.prod.json"),
    )
    assert preview_problems(wrong_cfg)


def test_deploy_rule_fails_on_mutations() -> None:
    assert deploy_problems(_mutate("deploy.yml", lambda d: d["jobs"]["prod"].pop("environment"))) == [
        "job prod deploys prod without the `prod` environment"
    ]
    assert deploy_problems(_mutate("deploy.yml", lambda d: d["jobs"]["prod"].pop("needs")))
    assert deploy_problems(_mutate("deploy.yml", lambda d: _step(d, "prod", _is_pack)["with"].pop("policyPacks")))


# --- the real linters ---------------------------------------------------------------------------


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not in the venv: `make test` installs requirements-dev.txt")
    return str(path)


def test_actionlint_passes_and_can_fail(tmp_path: Path) -> None:
    ok = subprocess.run([_tool("actionlint"), *map(str, workflow_files())], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    text = (WORKFLOWS / "release.yml").read_text().replace("secrets.RELEASE_PR_TOKEN", "secret.RELEASE_PR_TOKEN")
    bad.write_text(text)
    fail = subprocess.run([_tool("actionlint"), str(bad)], capture_output=True, text=True, cwd=tmp_path)
    assert fail.returncode != 0 and "secret" in fail.stdout


def test_yamllint_passes_and_can_fail(tmp_path: Path) -> None:
    files = [*map(str, workflow_files()), ".github/dependabot.yml", ".pre-commit-config.yaml", ".yamllint.yaml"]
    ok = subprocess.run([_tool("yamllint"), "--strict", *files], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text((WORKFLOWS / "ci.yml").read_text().replace("jobs:\n", "jobs:\njobs:\n", 1))
    fail = subprocess.run(
        [_tool("yamllint"), "-c", str(ROOT / ".yamllint.yaml"), str(bad)], capture_output=True, text=True
    )
    assert fail.returncode != 0 and "duplication of key" in fail.stdout


def test_ci_prepare_script_passes_shellcheck() -> None:
    proc = subprocess.run(["shellcheck", str(ROOT / "tools" / "ci-prepare.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def precommit_problems(config: Doc) -> list[str]:
    """The hooks run ruff, ruff format, mypy, actionlint and yamllint from the project's venv."""
    hooks = {h["id"]: h for repo in config.get("repos") or [] for h in repo.get("hooks") or []}
    problems = [f"no {h} hook" for h in ("ruff", "ruff-format", "mypy", "actionlint", "yamllint") if h not in hooks]
    for hook in hooks.values():
        binary = str(hook.get("entry", "")).split()[0]
        if not (binary.startswith(".venv/bin/") and (BIN / Path(binary).name).exists()):
            problems.append(f"hook {hook['id']} runs {binary!r}, not a venv binary")
    return problems


def test_precommit_runs_the_linters_from_the_venv() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    assert precommit_problems(config) == []
    broken = copy.deepcopy(config)
    broken["repos"][0]["hooks"] = [h for h in broken["repos"][0]["hooks"] if h["id"] != "mypy"]
    broken["repos"][0]["hooks"][0]["entry"] = "ruff check"
    assert precommit_problems(broken) == ["no mypy hook", "hook ruff runs 'ruff', not a venv binary"]
