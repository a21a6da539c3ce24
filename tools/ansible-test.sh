#!/usr/bin/env bash
# ansible-test sanity + units for this collection with only PyPI reachable.
#
# ansible-test wants to run from <root>/ansible_collections/<namespace>/<name> (a real directory,
# not a symlink) and bootstraps pip in its venvs from a get-pip.py it downloads from Ansible's
# file server. We stage a copy of the tracked files and pre-seed that cache with a small script
# that uses ensurepip + PyPI instead.
# Usage: tools/ansible-test.sh [extra ansible-test sanity args]
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd -P)"
python="${ANSIBLE_TEST_PYTHON:-3.11}"
command -v ansible-test >/dev/null || { echo "ansible-test not on PATH (run via make)" >&2; exit 2; }
runner="$(head -1 "$(command -v ansible-test)" | sed 's/^#!//')"

pip_version="$("$runner" -c 'import os, re, ansible_test
path = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
print(re.search(r"pip=.([0-9.]+).", open(path).read()).group(1))')" || { echo "cannot read ansible-test pip pin" >&2; exit 2; }
seed="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [ ! -s "$seed" ]; then
  mkdir -p "$(dirname "$seed")"
  cat > "$seed" <<'PY'
"""Stand-in for get-pip.py: ensurepip, then the requested pip from the configured index."""
import subprocess
import sys

wanted = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.call([sys.executable, "-m", "pip", "install", "--quiet"] + wanted)
PY
fi

read -r namespace name < <("$runner" -c 'import sys, yaml; g = yaml.safe_load(open(sys.argv[1])); print(g["namespace"], g["name"])' "$repo/galaxy.yml")
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
dest="$stage/ansible_collections/$namespace/$name"
mkdir -p "$dest"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -C "$dest" -xf -

rc=0
cd "$dest" || exit 2
ansible-test sanity --python "$python" --color no "$@" || rc=$?
ansible-test units --venv --python "$python" --color no || { r=$?; [ "$rc" -eq 0 ] && rc=$r; }
[ -d tests/output ] && mkdir -p "$repo/tests/output" && cp -a tests/output/. "$repo/tests/output/"
echo "ansible-test: exit $rc"
exit "$rc"
