#!/bin/sh
# `bpfmirror verify-config` on good and bad files: exit codes, FILE:LINE:COLUMN and key in
# errors; the docs' examples against the parser and, when python3 has jsonschema and
# PyYAML, against schemas/bpfmirror.schema.json (skipped, and counted, without them).
# Needs no root and no network. Passing checks print one line each.
. "$(dirname "$0")/lib.sh"
BIN=${BPFMIRROR:-build/bpfmirror}
need_tools "$BIN"
make_temp
tmp=$T

# expect_ok FILE
expect_ok() {
	out=$("$BIN" verify-config "$1" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && printf '%s' "$out" | grep -q "^$1: ok"; then ok "$1 is valid"; else
		bad "$1: want exit 0 and '$1: ok', got exit $rc: $out"
	fi
}

# expect_error NAME 'YAML' 'LINE:COLUMN: KEY' ['more text']
expect_error() {
	f="$tmp/$1.yaml"
	printf '%b' "$2" >"$f"
	out=$("$BIN" verify-config "$f" 2>&1)
	rc=$?
	if [ $rc -ne 1 ]; then
		bad "$1: want exit 1, got $rc: $out"
	elif ! printf '%s' "$out" | grep -qF "$f:$3"; then
		bad "$1: want '$f:$3' in: $out"
	elif [ -n "$4" ] && ! printf '%s' "$out" | grep -qF "$4"; then
		bad "$1: want '$4' in: $out"
	else
		ok "$1: $3"
	fi
}

# expect_rc WANT ARGS...
expect_rc() {
	want=$1
	shift
	"$BIN" "$@" >"$tmp/out" 2>&1
	rc=$?
	if [ $rc -eq "$want" ]; then ok "$*: exit $want"; else bad "verify-config $*: want exit $want, got $rc: $(cat "$tmp/out")"; fi
}

echo "   examples"
for f in docs/examples/*.yaml; do
	expect_ok "$f"
done

echo "   errors"
expect_error typo 'incoming:\n  ports: [80]\n  mode: mirorr\n' \
	'3:9: incoming.mode: expected one of mirror, steal, got "mirorr"'
expect_error unknown 'incoming:\n  prots: [80]\n' "2:3: incoming.prots: unknown key" \
	"did you mean 'ports'?"
expect_error port 'incoming:\n  ports: [8080, 70000]\n' '2:17: incoming.ports[1]: port out of range'
expect_error type 'incoming:\n  ports: 8080\n' '2:10: incoming.ports: expected a list'
expect_error dup 'target: pod/a\nnamespace: x\ntarget: pod/b\n' "3:1: target: duplicate key (first at line 1"
expect_error syntax 'incoming:\n  mode: steal\n   ports: [1]\n' '3:' 'YAML syntax error'
expect_error empty '' '1:1: the file is empty'
expect_error regex 'incoming:\n  mode: steal\n  http_filter:\n    header: "X-Dev: (alice"\n' \
	'4:13: incoming.http_filter.header: invalid regular expression'
expect_error filter 'incoming:\n  http_filter:\n    path: ^/api\n' \
	'3:5: incoming.http_filter: needs incoming.mode: steal'
expect_error endpoint 'outgoing:\n  local:\n    - {address: db, port: 5432, locl_port: 1}\n' \
	"3:33: outgoing.local[0].locl_port: unknown key" "did you mean 'local_port'?"
expect_error connect 'agent:\n  connect: ssh\n' '2:12: agent.connect: expected one of port-forward, direct'

echo "   command line"
expect_rc 2 verify-config
expect_rc 2 verify-config --bogus "$tmp/typo.yaml"
expect_rc 0 verify-config --help
expect_rc 1 verify-config "$tmp/does-not-exist.yaml"
expect_rc 1 verify-config docs/examples/minimal.yaml "$tmp/typo.yaml"
expect_rc 0 verify-config -q docs/examples/minimal.yaml docs/examples/full.yaml
if "$BIN" verify-config -q docs/examples/minimal.yaml | grep -q .; then
	bad "-q printed output for a valid file"
else ok "-q prints nothing for a valid file"; fi

# The JSON Schema must accept the examples and reject what the parser rejects for
# schema-level reasons (unknown keys, types, enums, ranges). PyYAML resolves YAML 1.1
# ("yes" is a boolean there), so only cases that read the same in 1.1 and 1.2 are used.
if python3 -c 'import jsonschema, yaml' 2>/dev/null; then
	echo "   schema"
	for c in unknown type connect endpoint typo; do
		cp "$tmp/$c.yaml" "$tmp/schema-bad-$c.yaml"
	done
	printf 'incoming:\n  ports: [0]\n' >"$tmp/schema-bad-port0.yaml"
	printf 'env:\n  override: {A: [1]}\n' >"$tmp/schema-bad-env.yaml"
	printf 'fs:\n  read_only: [etc]\n' >"$tmp/schema-bad-fs.yaml"
	printf 'target: job/x\n' >"$tmp/schema-bad-target.yaml"
	printf 'agent:\n  address: "a:65536"\n' >"$tmp/schema-bad-address.yaml"
	printf 'namespace: Team-A\n' >"$tmp/schema-bad-namespace.yaml"
	printf 'env:\n  override: {"A=B": x}\n' >"$tmp/schema-bad-envname.yaml"
	printf 'incoming:\n  ports: [80, 80]\n' >"$tmp/schema-bad-dupport.yaml"
	printf 'outgoing:\n  local: [{address: db}]\n' >"$tmp/schema-bad-required.yaml"
	if python3 - "$tmp" <<'EOF'; then ok "schema accepts the examples, rejects the bad files"; else bad "schema check (see above)"; fi
import glob, json, subprocess, sys
import jsonschema, yaml
tmp = sys.argv[1]
schema = json.load(open("schemas/bpfmirror.schema.json"))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
failed = 0
for f in sorted(glob.glob("docs/examples/*.yaml")):
    errs = list(v.iter_errors(yaml.safe_load(open(f))))
    if errs:
        failed += 1
        print(f"   {f}: schema rejects it: {errs[0].message}")
for f in sorted(glob.glob(tmp + "/schema-bad-*.yaml")):
    parser_rc = subprocess.run(["build/bpfmirror", "verify-config", "-q", f],
                               capture_output=True).returncode
    schema_ok = v.is_valid(yaml.safe_load(open(f)))
    if parser_rc != 1 or schema_ok:
        failed += 1
        print(f"   {f}: parser exit {parser_rc}, schema valid {schema_ok}: they must both reject it")
sys.exit(1 if failed else 0)
EOF
else
	skip "schema: python3 lacks jsonschema or PyYAML (optional: pip install jsonschema pyyaml)"
fi

finish
