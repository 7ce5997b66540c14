#!/usr/bin/env python3
"""A small renderer for the subset of Helm templates used by charts/aifbench.

No helm binary is installable from the registries this project can reach
(PyPI, npm, crates.io, Debian), so the chart keeps to a subset that this
script renders exactly as Helm would:

  {{ .Values.a.b }}  {{ .Release.Name }}  {{ .Release.Namespace }}
  {{ .Chart.Name }}  {{ .Chart.Version }}  {{ .Chart.AppVersion }}  {{ $.X }}  {{ . }}
  {{ .Files.Get "path/in/chart" }} (a file of the chart; a missing one is an error)
  pipelines: | quote, | toYaml, | nindent N, | indent N, | default VALUE
  {{- if X }} ... {{- else }} ... {{- end }}     {{- range X }} ... {{- end }}
  whitespace trimming with {{- and -}}; {{/* comments */}}

Anything else is an error, so a template that strays from the subset fails
the check instead of rendering wrongly.

Usage: render.py CHART_DIR [--set key.path=value ...] [--namespace NS]
       [--release NAME]      -> the rendered manifests on stdout (crds/ first)
       render.py --self-test
"""
import json
import os
import re
import sys

import yaml

TOKEN = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


class TemplateError(Exception):
    pass


def tokenize(text):
    out, pos = [], 0
    for m in TOKEN.finditer(text):
        lit = text[pos:m.start()]
        if m.group(1) == "-":
            lit = lit.rstrip()
        if out and out[-1][0] == "tag" and out[-1][2]:
            lit = lit.lstrip()
        out.append(("text", lit, False))
        out.append(("tag", m.group(2), m.group(3) == "-"))
        pos = m.end()
    lit = text[pos:]
    if out and out[-1][0] == "tag" and out[-1][2]:
        lit = lit.lstrip()
    out.append(("text", lit, False))
    return out


def parse(tokens, i=0, stop=("end",)):
    """Returns (nodes, index, stopper)."""
    nodes = []
    while i < len(tokens):
        kind, val, _ = tokens[i]
        i += 1
        if kind == "text":
            nodes.append(("text", val))
            continue
        if val.startswith("/*"):
            continue
        word = val.split(None, 1)[0] if val else ""
        if word in stop:
            return nodes, i, word
        if word in ("if", "range"):
            body, i, stopper = parse(tokens, i, ("end", "else"))
            other = []
            if stopper == "else":
                other, i, stopper = parse(tokens, i, ("end",))
            if stopper is None:
                raise TemplateError(f"{{{{ {val} }}}} has no {{{{ end }}}}")
            nodes.append((word, val.split(None, 1)[1], body, other))
            continue
        if word in ("end", "else"):
            raise TemplateError(f"unexpected {{{{ {val} }}}}")
        nodes.append(("expr", val))
    return nodes, i, None


def lookup(path, dot, root):
    if path == ".":
        return dot
    if path.startswith("$."):
        obj, parts = root, path[2:].split(".")
    elif path.startswith("."):
        obj, parts = dot, path[1:].split(".")
    else:
        raise TemplateError(f"unsupported expression {path!r}")
    for p in parts:
        if isinstance(obj, dict):
            obj = obj.get(p)
        else:
            return None
    return obj


def literal(tok):
    if tok.startswith('"') and tok.endswith('"'):
        return json.loads(tok)
    if re.fullmatch(r"-?\d+", tok):
        return int(tok)
    if tok in ("true", "false"):
        return tok == "true"
    raise TemplateError(f"unsupported literal {tok!r}")


def to_yaml(v):
    if v is None:
        return "null"
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True).rstrip("\n")


FUNCS = ("quote", "toYaml", "nindent", "indent", "default")


def files_get(root, words):
    """`.Files.Get "path"`: the text of a file inside the chart folder."""
    if len(words) != 2 or not words[1].startswith('"'):
        raise TemplateError(".Files.Get takes one quoted path")
    rel = literal(words[1])
    chart_dir = (root.get("Files") or {}).get("dir")
    norm = os.path.normpath(rel)
    if chart_dir is None or os.path.isabs(norm) or norm.startswith(".."):
        raise TemplateError(f".Files.Get {rel!r}: not a file of the chart")
    path = os.path.join(chart_dir, norm)
    if not os.path.isfile(path):
        raise TemplateError(f".Files.Get {rel!r}: no such file in the chart")
    with open(path) as f:
        return f.read()


def evaluate(expr, dot, root):
    parts = [p.strip() for p in expr.split("|")]
    head = parts[0]
    words = head.split()
    if words and words[0] == ".Files.Get":
        v = files_get(root, words)
        head, parts = None, [None] + parts[1:]
    elif words and words[0] in FUNCS and len(words) >= 2:
        # Function-call form: `toYaml X` == `X | toYaml`, `nindent 2 X` == `X | nindent 2`.
        head = words[-1]
        parts = [head, " ".join(words[:-1])] + parts[1:]
    if head is not None:
        v = literal(head) if head[:1] in '"-0123456789' or head in ("true", "false") else lookup(head, dot, root)
    for f in parts[1:]:
        name, *args = f.split()
        if name == "quote":
            v = json.dumps("" if v is None else str(v) if not isinstance(v, bool) else str(v).lower())
        elif name == "toYaml":
            v = to_yaml(v)
        elif name in ("nindent", "indent"):
            n = int(args[0])
            s = "\n".join((" " * n + line) if line else line for line in str(v).split("\n"))
            v = ("\n" + s) if name == "nindent" else s
        elif name == "default":
            if v in (None, "", [], {}, False):
                v = literal(args[0]) if args[0][:1] in '"-0123456789' else lookup(args[0], dot, root)
        else:
            raise TemplateError(f"unsupported function {name!r}")
    return v


def truthy(v):
    return v not in (None, "", [], {}, False, 0)


def render_nodes(nodes, dot, root):
    out = []
    for n in nodes:
        if n[0] == "text":
            out.append(n[1])
        elif n[0] == "expr":
            v = evaluate(n[1], dot, root)
            out.append("" if v is None else (str(v).lower() if isinstance(v, bool) else str(v)))
        elif n[0] == "if":
            v = evaluate(n[1], dot, root)
            out.append(render_nodes(n[2] if truthy(v) else n[3], dot, root))
        elif n[0] == "range":
            v = evaluate(n[1], dot, root) or []
            if not isinstance(v, list):
                raise TemplateError("range supports lists only")
            if not v:
                out.append(render_nodes(n[3], dot, root))
            for item in v:
                out.append(render_nodes(n[2], item, root))
    return "".join(out)


def render(text, values):
    nodes, _, stopper = parse(tokenize(text))
    if stopper is not None:
        raise TemplateError(f"unbalanced {{{{ {stopper} }}}}")
    return render_nodes(nodes, values, values)


def merge(a, b):
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            merge(a[k], v)
        else:
            a[k] = v
    return a


def set_path(d, path, value):
    keys = path.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = yaml.safe_load(value)


def render_chart(chart_dir, sets=(), namespace="aifbench", release="aifbench"):
    with open(os.path.join(chart_dir, "Chart.yaml")) as f:
        chart = yaml.safe_load(f)
    with open(os.path.join(chart_dir, "values.yaml")) as f:
        values = yaml.safe_load(f) or {}
    for s in sets:
        k, v = s.split("=", 1)
        set_path(values, k, v)
    root = {
        "Values": values,
        "Release": {"Name": release, "Namespace": namespace},
        "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart.get("appVersion", "")},
        "Files": {"dir": chart_dir},
    }
    docs = []
    crds = os.path.join(chart_dir, "crds")
    for name in sorted(os.listdir(crds)) if os.path.isdir(crds) else []:
        with open(os.path.join(crds, name)) as f:
            docs.append(f"# Source: crds/{name}\n" + f.read().strip() + "\n")
    tdir = os.path.join(chart_dir, "templates")
    for name in sorted(os.listdir(tdir)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(tdir, name)) as f:
            try:
                text = render(f.read(), root)
            except TemplateError as e:
                raise TemplateError(f"{name}: {e}") from e
        for doc in text.split("\n---"):
            if doc.strip():
                docs.append(f"# Source: templates/{name}\n" + doc.strip("\n") + "\n")
    return "---\n".join(docs)


def self_test():
    v = {"Values": {"a": {"b": "x"}, "on": True, "off": False, "l": ["n1", "n2"], "m": {"k": "v"}, "n": 3},
         "Release": {"Name": "r", "Namespace": "ns"}}
    cases = [
        ("{{ .Values.a.b }}", "x"),
        ("{{ .Values.a.b | quote }}", '"x"'),
        ("{{ .Values.n }}", "3"),
        ("a:\n  {{- if .Values.on }}\n  yes: 1\n  {{- end }}\n", "a:\n  yes: 1\n"),
        ("{{- if .Values.off }}no{{- else }}else{{- end }}", "else"),
        ("{{- range .Values.l }}\n- {{ . }} in {{ $.Release.Namespace }}\n{{- end }}", "\n- n1 in ns\n- n2 in ns"),
        ("m:{{ toYaml .Values.m | nindent 2 }}", "m:\n  k: v"),
        ("m:{{ .Values.m | toYaml | nindent 2 }}", "m:\n  k: v"),
        ("{{ .Values.none | default \"d\" }}", "d"),
        ("{{/* c */}}ok", "ok"),
    ]
    for tpl, want in cases:
        try:
            got = render(tpl, v)
        except TemplateError:
            got = None
        assert got == want, f"{tpl!r}: got {got!r}, want {want!r}"
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        os.mkdir(os.path.join(d, "sub"))
        with open(os.path.join(d, "sub", "f.json"), "w") as f:
            f.write('{\n  "a": 1\n}')
        vf = dict(v, Files={"dir": d})
        got = render('x: |-\n{{ .Files.Get "sub/f.json" | indent 2 }}', vf)
        assert got == 'x: |-\n  {\n    "a": 1\n  }', repr(got)
        for bad in ['{{ .Files.Get "../f.json" }}', '{{ .Files.Get "nope.json" }}', '{{ .Files.Get "/etc/passwd" }}']:
            try:
                render(bad, vf)
            except TemplateError:
                continue
            raise AssertionError(f"{bad!r} should be rejected")
    for bad in ["{{ include \"x\" . }}", "{{- if .Values.on }}", "{{ .Values.a | upper }}"]:
        try:
            render(bad, v)
        except TemplateError:
            continue
        raise AssertionError(f"{bad!r} should be rejected")
    grafana_dashboards_case()
    print("render.py self-test: 17 passed, 0 failed")


def grafana_dashboards_case():
    """The chart's Grafana dashboards ConfigMap: off by default; when on, it
    carries deploy/grafana/*.json unchanged under the sidecar's label."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    chart = os.path.join(root, "charts", "aifbench")
    kinds = [d["kind"] for d in yaml.safe_load_all(render_chart(chart)) if d]
    assert "ConfigMap" not in kinds, kinds
    text = render_chart(chart, ["grafanaDashboards.enabled=true", "grafanaDashboards.annotations={grafana_folder: aifbench}"])
    cms = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "ConfigMap"]
    assert len(cms) == 1, len(cms)
    cm = cms[0]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1", cm["metadata"]
    assert cm["metadata"]["namespace"] == "aifbench", cm["metadata"]
    assert cm["metadata"]["annotations"] == {"grafana_folder": "aifbench"}, cm["metadata"]
    deployed = sorted(f for f in os.listdir(os.path.join(root, "deploy", "grafana")) if f.endswith(".json"))
    assert sorted(cm["data"]) == deployed, (sorted(cm["data"]), deployed)
    for name in deployed:
        with open(os.path.join(root, "deploy", "grafana", name)) as f:
            assert json.loads(cm["data"][name]) == json.load(f), name


def main(argv):
    if argv[1:] == ["--self-test"]:
        self_test()
        return 0
    chart, sets, ns, rel = None, [], "aifbench", "aifbench"
    it = iter(argv[1:])
    for a in it:
        if a == "--set":
            sets.append(next(it))
        elif a == "--namespace":
            ns = next(it)
        elif a == "--release":
            rel = next(it)
        else:
            chart = a
    if not chart:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        sys.stdout.write(render_chart(chart, sets, ns, rel))
    except TemplateError as e:
        print(f"render.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
