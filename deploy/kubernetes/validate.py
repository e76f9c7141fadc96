#!/usr/bin/env python3
"""Validate deploy/kubernetes/manifests offline, against Kubernetes' schemas and the operators' CRDs.

    validate.py install   # fetch what it needs into ~/.cache/dtks (once; `make install` runs it)
    validate.py           # validate every manifest; exit 1 on any invalid resource

No cluster is needed and, once installed, no network. What it uses, all from registries this
project's machines reach, pinned, and cached under ``~/.cache/dtks`` (DTKS_CACHE_DIR):

- kubeconform (Apache-2.0, Yann Hamon) built from the Go module proxy (``go install``);
- Kubernetes' JSON schemas (Apache-2.0, the Kubernetes authors, as packaged by Will Thames'
  ``kubernetes-validate`` on PyPI, whose wheel carries them for each Kubernetes release): the
  ``-local-strict`` schemas of KUBERNETES_VERSION, made standalone here (each kind with the
  definitions it refers to, which kubeconform needs) for the kinds the manifests use;
- CloudNativePG's CRDs (Apache-2.0, the CloudNativePG contributors) from its Go module
  (``config/crd/bases``), their openAPIV3Schema converted to JSON schemas with no unknown fields
  allowed (as kubeconform's openapi2jsonschema does in strict mode);
- Strimzi's CRD schemas (Apache-2.0, the Strimzi authors), as compiled into validators by
  ``@kubernetes-models/strimzi-kafka-operator`` on npm (MIT, Tommy Chen; from the CRDs of Strimzi
  0.49.0), run with Node by ``strimzi-check/check.mjs`` from its package-lock. Strimzi publishes its
  CRDs only with its GitHub releases and Helm chart, out of reach here; its Maven ``api`` jar holds
  the model classes without the CRDs. Those validators check types, enums and required fields but,
  as Kubernetes does for a CRD, let unknown fields through (the API server prunes them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
MANIFESTS = HERE / "manifests"
CACHE = Path(os.environ.get("DTKS_CACHE_DIR", Path.home() / ".cache" / "dtks"))
KUBECONFORM_VERSION = "v0.7.0"
KUBERNETES_VALIDATE_VERSION = "1.37.0"  # the PyPI wheel with Kubernetes' schemas
KUBERNETES_VERSION = "1.31.0"  # the oldest release the manifests must work on (autoscaling/v2 etc.)
CNPG_VERSION = "v1.27.1"
CNPG_CRDS = ("postgresql.cnpg.io_clusters.yaml",)

TOOLS = CACHE / "kubernetes-validation"
KUBECONFORM = TOOLS / f"kubeconform-{KUBECONFORM_VERSION}" / "kubeconform"
K8S_WHEEL_DIR = TOOLS / f"kubernetes-validate-{KUBERNETES_VALIDATE_VERSION}"
K8S_SCHEMAS = K8S_WHEEL_DIR / f"v{KUBERNETES_VERSION}-local-strict"
STANDALONE = TOOLS / f"kubernetes-{KUBERNETES_VERSION}-standalone-strict"
CRD_SCHEMAS = TOOLS / f"cnpg-{CNPG_VERSION}-schemas"
STRIMZI_CHECK = HERE / "strimzi-check"
STRIMZI_GROUPS = ("kafka.strimzi.io", "core.strimzi.io")


def log(msg: str) -> None:
    print(f"[kubernetes] {msg}", flush=True)


def go() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if not found:
        sys.exit("go is needed to build kubeconform from the Go module proxy (https://go.dev/dl/)")
    return found


def install_kubeconform() -> None:
    if KUBECONFORM.exists():
        return
    log(f"building kubeconform {KUBECONFORM_VERSION} from the Go module proxy")
    KUBECONFORM.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [go(), "install", f"github.com/yannh/kubeconform/cmd/kubeconform@{KUBECONFORM_VERSION}"],
        env={**os.environ, "GOBIN": str(KUBECONFORM.parent), "GOFLAGS": "-mod=mod"},
        check=True,
    )


def pip() -> list[str]:
    """pip, PyPI's own client: the one beside uv in the cache (the Makefile makes it), else a venv
    of our own (the project's .venv, made by uv, has none)."""
    cached = CACHE / "uv-venv" / "bin" / "pip"
    if cached.exists():
        return [str(cached)]
    venv = TOOLS / "pip-venv"
    if not (venv / "bin" / "pip").exists():
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    return [str(venv / "bin" / "pip")]


def install_kubernetes_schemas() -> None:
    if (K8S_SCHEMAS / "_definitions.json").exists():
        return
    log(f"fetching Kubernetes' schemas (kubernetes-validate {KUBERNETES_VALIDATE_VERSION} from PyPI)")
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        subprocess.run(
            [
                *pip(),
                "download",
                "-q",
                "--no-deps",
                f"kubernetes-validate=={KUBERNETES_VALIDATE_VERSION}",
                "-d",
                tmp,
            ],
            check=True,
        )
        wheel = next(Path(tmp).glob("kubernetes_validate-*.whl"))
        prefix = f"kubernetes_validate/kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict/"
        partial = Path(tmp) / "schemas"
        partial.mkdir()
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.startswith(prefix) and member.endswith(".json"):
                    (partial / member.removeprefix(prefix)).write_bytes(archive.read(member))
                elif member.endswith("/LICENSE"):
                    (K8S_WHEEL_DIR).mkdir(parents=True, exist_ok=True)
                    (K8S_WHEEL_DIR / "LICENSE").write_bytes(archive.read(member))
        K8S_WHEEL_DIR.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(K8S_SCHEMAS, ignore_errors=True)
        partial.rename(K8S_SCHEMAS)


def standalone(kind_file: str) -> Path:
    """The kind's schema with the definitions it refers to inlined (kubernetes-validate's schemas
    refer to ``/api/_definitions.json``, which kubeconform's loader cannot resolve)."""
    target = STANDALONE / kind_file
    if target.exists():
        return target
    definitions = json.loads((K8S_SCHEMAS / "_definitions.json").read_text())["$defs"]
    schema = json.loads((K8S_SCHEMAS / kind_file).read_text())
    needed: dict[str, Any] = {}

    def inline(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str) and "#/$defs/" in value:
                    name = value.split("#/$defs/", 1)[1]
                    node[key] = f"#/$defs/{name}"
                    if name not in needed:
                        needed[name] = definitions[name]
                        inline(needed[name])
                else:
                    inline(value)
        elif isinstance(node, list):
            for item in node:
                inline(item)

    inline(schema)
    schema["$defs"] = needed
    STANDALONE.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(schema))
    return target


def strict(schema: Any) -> Any:
    """An openAPIV3Schema as a JSON schema allowing no field it does not name (where it names any
    and does not ask to keep unknown ones), as kubeconform's openapi2jsonschema does with -strict."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def install_cnpg_schemas() -> None:
    if CRD_SCHEMAS.exists():
        return
    log(f"fetching CloudNativePG {CNPG_VERSION}'s CRDs from the Go module proxy")
    answer = subprocess.run(
        [go(), "mod", "download", "-json", f"github.com/cloudnative-pg/cloudnative-pg@{CNPG_VERSION}"],
        env={**os.environ, "GOFLAGS": "-mod=mod"},
        check=True,
        capture_output=True,
        text=True,
    )
    module = Path(json.loads(answer.stdout)["Dir"])
    partial = Path(tempfile.mkdtemp(dir=CACHE))
    for name in CNPG_CRDS:
        crd = yaml.safe_load((module / "config" / "crd" / "bases" / name).read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"].lower()
        for version in crd["spec"]["versions"]:
            folder = partial / group
            folder.mkdir(parents=True, exist_ok=True)
            schema = strict(version["schema"]["openAPIV3Schema"])
            (folder / f"{kind}_{version['name']}.json").write_text(json.dumps(schema))
    shutil.copy(module / "LICENSE", partial / "LICENSE")
    partial.rename(CRD_SCHEMAS)


def install_strimzi_check() -> None:
    if (STRIMZI_CHECK / "node_modules" / "@kubernetes-models" / "strimzi-kafka-operator").exists():
        return
    if not shutil.which("npm"):
        sys.exit("npm (Node.js) is needed for the Strimzi resources' check")
    log("installing the Strimzi schemas' validators (npm ci, pinned by strimzi-check/package-lock.json)")
    subprocess.run(
        ["npm", "ci", "--prefix", str(STRIMZI_CHECK), "--no-audit", "--no-fund", "--loglevel=error"],
        check=True,
    )


def install() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    install_kubeconform()
    install_kubernetes_schemas()
    install_cnpg_schemas()
    install_strimzi_check()


def resources(folder: Path = MANIFESTS) -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in sorted(folder.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def kind_file(doc: dict[str, Any]) -> str:
    """kubernetes-validate's file name for a kind: kind-group-version, the core group left out."""
    group, _, version = doc["apiVersion"].rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{doc['kind'].lower()}{suffix}.json"


def validate(folder: Path = MANIFESTS) -> list[str]:
    """Every resource of ``folder`` checked; the lines of every failure (none when all are valid)."""
    install()
    docs = resources(folder)
    strimzi = [doc for _, doc in docs if doc["apiVersion"].split("/")[0] in STRIMZI_GROUPS]
    for _, doc in docs:  # Kubernetes' own kinds, made standalone once (the CRDs' have no file there)
        if (K8S_SCHEMAS / kind_file(doc)).exists():
            standalone(kind_file(doc))
    failures: list[str] = []
    kubeconform = subprocess.run(
        [
            str(KUBECONFORM),
            "-strict",
            "-summary",
            "-output",
            "text",
            "-kubernetes-version",
            KUBERNETES_VERSION,
            "-skip",
            ",".join(sorted({f"{doc['apiVersion']}/{doc['kind']}" for doc in strimzi})),
            "-schema-location",
            str(STANDALONE / "{{ .ResourceKind }}{{ .KindSuffix }}.json"),
            "-schema-location",
            str(CRD_SCHEMAS / "{{ .Group }}" / "{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"),
            str(folder),
        ],
        capture_output=True,
        text=True,
    )
    print(kubeconform.stdout.strip())
    if kubeconform.returncode != 0:
        failures += [line for line in kubeconform.stdout.splitlines() if not line.startswith("Summary")]
        failures += kubeconform.stderr.splitlines()
    if strimzi:
        node = subprocess.run(
            ["node", str(STRIMZI_CHECK / "check.mjs")],
            input=json.dumps(strimzi),
            capture_output=True,
            text=True,
            cwd=STRIMZI_CHECK,
        )
        print(node.stdout.strip())
        if node.returncode != 0:
            failures += [line for line in node.stdout.splitlines() if not line.endswith(": valid")]
            failures += node.stderr.splitlines()
    return failures


def main() -> None:
    if sys.argv[1:] == ["install"]:
        install()
        return
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else MANIFESTS
    failures = validate(folder)
    if failures:
        sys.exit("invalid manifests:\n" + "\n".join(failures))
    log("every manifest is valid")


if __name__ == "__main__":
    main()
