#!/usr/bin/env python3
"""Checks, without a Docker daemon, that the Dockerfile's build context holds every file the
image build reads: what cargo needs to load the manifest and build the daemon (Cargo.toml,
Cargo.lock, .cargo/config.toml, build.rs, every [lib]/[[bin]]/[[test]]/[[bench]]/[[example]] path, src/, and
the files src/ pulls in with include_str!/include_bytes!), what the client build needs (the
tracked files of client/ but its browser tests), and every other file a COPY names.

A needed file counts as present when a COPY of the stage that runs the build places it where
the build expects it (its path relative to the build's WORKDIR) and .dockerignore does not
drop it from the context.

    scripts/check-docker-context.py [--dockerfile F] [--dockerignore F]
    scripts/check-docker-context.py --self-test   # the check catches broken copies
"""

import argparse
import json
import os
import posixpath
import re
import shlex
import subprocess
import sys
import tempfile
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- Dockerfile ---------------------------------------------------------------------------

class Copy:
    def __init__(self, sources, dest, from_stage, line):
        self.sources, self.dest, self.from_stage, self.line = sources, dest, from_stage, line


class Stage:
    def __init__(self, name):
        self.name = name
        self.workdir = "/"
        # (kind, payload, workdir at that point): kind is "copy" or "run".
        self.steps = []


def logical_lines(text):
    """Joins continuation lines and drops comments, keeping the first physical line number."""
    out, buf, start = [], "", None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        if start is None:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        out.append((start, (buf + line).strip()))
        buf, start = "", None
    if buf:
        out.append((start, buf.strip()))
    return out


def parse_dockerfile(text):
    stages = []
    for n, line in logical_lines(text):
        word, _, rest = line.partition(" ")
        word, rest = word.upper(), rest.strip()
        if word == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].lower() == "as" else str(len(stages))
            stages.append(Stage(name))
        elif not stages:
            continue
        elif word == "WORKDIR":
            stages[-1].workdir = posixpath.normpath(posixpath.join(stages[-1].workdir, rest))
        elif word in ("COPY", "ADD"):
            if rest.startswith("["):
                args = json.loads(rest)
            else:
                args = shlex.split(rest)
            flags = [a for a in args if a.startswith("--")]
            paths = [a for a in args if not a.startswith("--")]
            from_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if len(paths) < 2:
                raise SystemExit(f"Dockerfile line {n}: {word} needs a source and a destination")
            copy = Copy(paths[:-1], paths[-1], from_stage, n)
            stages[-1].steps.append(("copy", copy, stages[-1].workdir))
        elif word == "RUN":
            stages[-1].steps.append(("run", rest, stages[-1].workdir))
    return stages


def clean(path):
    path = posixpath.normpath(path.lstrip("/")) if path not in ("", ".", "./") else "."
    return path


def placed_at(copy, workdir, rel, is_dir):
    """Where `rel` (a context path) lands in the image through `copy`, or None."""
    dest = copy.dest if copy.dest.startswith("/") else posixpath.join(workdir, copy.dest)
    dest_is_dir = copy.dest.endswith("/") or copy.dest in (".", "./") or len(copy.sources) > 1
    for src in copy.sources:
        s = clean(src)
        if s == ".":
            return posixpath.normpath(posixpath.join(dest, rel))
        if rel == s:
            if is_dir(s):
                return posixpath.normpath(dest)
            if dest_is_dir:
                return posixpath.normpath(posixpath.join(dest, posixpath.basename(s)))
            return posixpath.normpath(dest)
        if rel.startswith(s + "/") and is_dir(s):
            return posixpath.normpath(posixpath.join(dest, rel[len(s) + 1:]))
    return None


# --- .dockerignore ------------------------------------------------------------------------

def pattern_regex(pattern):
    """Go filepath.Match syntax plus `**`, as Docker's pattern matcher reads it."""
    out, i = "^", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += "(.*/)?"
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                out += re.escape(c)
            else:
                body = pattern[i + 1:j]
                out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
                i = j
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + "$")


def parse_dockerignore(text):
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:].strip()
        line = posixpath.normpath(line.lstrip("/"))
        rules.append((negate, line, pattern_regex(line)))
    return rules


def ignored(rules, rel):
    """A path is excluded when the last rule matching it, or one of its parent folders, is not
    an exception."""
    parts = rel.split("/")
    candidates = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    result = False
    for negate, _, rx in rules:
        if any(rx.match(c) for c in candidates):
            result = not negate
    return result


# --- what the builds need -----------------------------------------------------------------

def tracked_files(root, under):
    try:
        out = subprocess.run(
            ["git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard", under],
            check=True, capture_output=True, text=True,
        ).stdout.split()
        if out:
            return sorted(out)
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, under)):
        dirnames[:] = [d for d in dirnames if d not in ("node_modules", "dist", "target", ".git")]
        for f in filenames:
            found.append(os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/"))
    return sorted(found)


INCLUDE_RE = re.compile(r'include_(?:str|bytes)!\(\s*(?:concat!\([^)]*\)|"([^"]+)")')


def cargo_needs(root):
    """Context paths cargo reads to load the manifest and build the binary, with the reason."""
    with open(os.path.join(root, "Cargo.toml"), "rb") as f:
        manifest = tomllib.load(f)
    needs = {"Cargo.toml": "the manifest", "Cargo.lock": "--locked builds"}
    if os.path.exists(os.path.join(root, ".cargo/config.toml")):
        needs[".cargo/config.toml"] = "cargo's configuration (the allocator's options)"
    pkg = manifest.get("package", {})
    build = pkg.get("build", "build.rs" if os.path.exists(os.path.join(root, "build.rs")) else None)
    if build:
        needs[clean(build)] = "the build script"
    lib = manifest.get("lib")
    if lib is not None or os.path.exists(os.path.join(root, "src/lib.rs")):
        needs[clean((lib or {}).get("path", "src/lib.rs"))] = "[lib]"
    defaults = {"bin": "src/bin", "test": "tests", "bench": "benches", "example": "examples"}
    for kind, folder in defaults.items():
        for target in manifest.get(kind, []):
            path = target.get("path")
            if path is None:
                name = target["name"]
                single = f"{folder}/{name}.rs"
                nested = f"{folder}/{name}/main.rs"
                if kind == "bin" and name == pkg.get("name"):
                    single = "src/main.rs"
                path = nested if os.path.exists(os.path.join(root, nested)) else single
            needs[clean(path)] = f"[[{kind}]] {target.get('name')}"
    for rel in tracked_files(root, "src"):
        needs.setdefault(rel, "src/")
        if not rel.endswith(".rs"):
            continue
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            text = f.read()
        for m in INCLUDE_RE.finditer(text):
            if m.group(1) and "CARGO_MANIFEST_DIR" not in m.group(0):
                target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), m.group(1)))
                needs.setdefault(target, f"include_*! in {rel}")
    return needs


def client_needs(root):
    """Every tracked file of client/ but its browser tests (client/e2e)."""
    return {
        rel: "the client build"
        for rel in tracked_files(root, "client")
        if not rel.startswith("client/e2e/")
    }


# --- the check ----------------------------------------------------------------------------

def check(root, dockerfile_text, dockerignore_text):
    stages = parse_dockerfile(dockerfile_text)
    rules = parse_dockerignore(dockerignore_text)

    def is_dir(rel):
        return os.path.isdir(os.path.join(root, rel))

    problems = []

    def builder(marker):
        for stage in stages:
            for i, (kind, payload, workdir) in enumerate(stage.steps):
                if kind == "run" and marker in payload:
                    copies = [(p, w) for k, p, w in stage.steps[:i]
                              if k == "copy" and p.from_stage is None]
                    return stage, copies, workdir
        problems.append(f"no stage runs `{marker}`")
        return None

    def verify(needs, marker, strip):
        found = builder(marker)
        if not found:
            return
        stage, copies, build_dir = found
        for rel, why in sorted(needs.items()):
            if not os.path.exists(os.path.join(root, rel)):
                problems.append(f"{rel} ({why}) does not exist in the repository")
                continue
            if ignored(rules, rel):
                problems.append(f"{rel} ({why}) is excluded by .dockerignore")
                continue
            expected = posixpath.normpath(posixpath.join(build_dir, rel[len(strip):]))
            where = None
            for copy, workdir in copies:
                at = placed_at(copy, workdir, rel, is_dir)
                if at is not None:
                    where = at
            if where is None:
                problems.append(
                    f"{rel} ({why}) is not copied into stage `{stage.name}` before `{marker}`")
            elif where != expected:
                problems.append(
                    f"{rel} ({why}) is copied to {where}, but `{marker}` expects it at {expected}")

    verify(cargo_needs(root), "cargo build", "")
    verify(client_needs(root), "npm run build", "client/")

    for stage in stages:
        for kind, payload, _ in stage.steps:
            if kind != "copy" or payload.from_stage is not None:
                continue
            for src in payload.sources:
                rel = clean(src)
                if rel == ".":
                    continue
                if not os.path.exists(os.path.join(root, rel)):
                    problems.append(f"Dockerfile line {payload.line}: {src} does not exist")
                elif ignored(rules, rel):
                    problems.append(
                        f"Dockerfile line {payload.line}: {src} is excluded by .dockerignore")
    return problems


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def self_test(root):
    """The check passes on the repository's files and fails on broken copies of them."""
    dockerfile = read(os.path.join(root, "Dockerfile"))
    dockerignore = read(os.path.join(root, ".dockerignore"))
    failures = []

    def expect(label, text, ignore, needle):
        problems = check(root, text, ignore)
        if needle is None and problems:
            failures.append(f"{label}: expected no problem, got {problems}")
        elif needle is not None and not any(needle in p for p in problems):
            failures.append(f"{label}: expected a problem mentioning `{needle}`, got {problems}")

    def without(pattern):
        changed = re.sub(pattern, "", dockerfile, count=1, flags=re.MULTILINE)
        if changed == dockerfile:
            failures.append(f"the Dockerfile has no line matching {pattern!r} to break")
        return changed

    expect("the repository's Dockerfile", dockerfile, dockerignore, None)
    expect("no COPY of benches/", without(r"^COPY benches\b.*\n"), dockerignore, "benches/")
    expect("no COPY of tests/", without(r"^COPY tests\b.*\n"), dockerignore, "tests/api/main.rs")
    expect("no COPY of Cargo.lock", dockerfile.replace(" Cargo.lock", "", 1), dockerignore,
           "Cargo.lock")
    expect("docs/ ignored", dockerfile, dockerignore + "\ndocs\n", "docs/openapi.json")
    expect("client sources ignored", dockerfile, dockerignore + "\nclient/src/**/*.tsx\n",
           "client/src/")
    expect("src copied to the wrong place", dockerfile.replace("COPY src ./src", "COPY src ./",
                                                               1), dockerignore, "expects it at")
    # Docker's own matcher: a later exception re-includes, a folder pattern covers its files.
    rules = parse_dockerignore("target\n**/*.log\n!keep.log\ndata/\n")
    cases = {"target/x": True, "a/b/c.log": True, "keep.log": False, "data/db/f": True,
             "src/main.rs": False, "targets": False}
    for path, want in cases.items():
        if ignored(rules, path) != want:
            failures.append(f".dockerignore matching of {path}: expected {want}")
    for f in failures:
        print(f"self-test: {f}", file=sys.stderr)
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dockerfile", default=os.path.join(ROOT, "Dockerfile"))
    ap.add_argument("--dockerignore", default=os.path.join(ROOT, ".dockerignore"))
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test(ROOT)
    problems = check(ROOT, read(args.dockerfile), read(args.dockerignore))
    for p in problems:
        print(f"docker context: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
