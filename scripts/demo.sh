#!/usr/bin/env bash
# The main job: installs missing Debian packages, builds keygate, then walks
# the `keygate` command through a token's life on an embedded store in
# ./keygate-data (pepper in ./keygate-data.pepper): create a service account
# and a token, verify the token, revoke it, and show verification failing.
# Safe to rerun: each run uses a fresh account slug and deletes it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build.sh

keygate() {
  ./build/keygate --data-dir ./keygate-data \
    --pepper-file ./keygate-data.pepper "$@"
}
bold="" plain=""
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; fi
# step TITLE ARGS...: prints the title and the command line that follows.
step() {
  printf '\n%s== %s%s\n$ keygate' "$bold" "$1" "$plain"
  shift
  printf ' %q' "$@"
  printf '\n'
}

org="demo"
account="demo-bot-$(date -u +%Y%m%d%H%M%S)-$$"

step "Create the pepper file (if missing) and the store" init
keygate init

step "Create a service account in organization '$org'" \
  sa create --org "$org" "Demo bot" --slug "$account"
keygate sa create --org "$org" "Demo bot" --slug "$account"

step "Create a token: its value is printed once, here, and never again" \
  token create --org "$org" "$account" "CI deploy" --scope read:tokens \
  --scope write:tokens --expires-in 30d
created="$(keygate token create --org "$org" "$account" "CI deploy" \
  --scope read:tokens --scope write:tokens --expires-in 30d)"
printf '%s\n' "$created"
token="$(sed -n 's/^Token (shown once): //p' <<<"$created")"
unset created
if [[ -z "$token" ]]; then
  echo "demo: token create printed no token" >&2
  exit 1
fi

step "List the account's tokens: metadata only, never the value" \
  token list --org "$org" "$account"
keygate token list --org "$org" "$account"

step "Verify the token, read from stdin so it stays out of ps and history" \
  token verify - --scope write:tokens
printf '%s\n' "$token" | keygate token verify - --scope write:tokens

step "Revoke it" token revoke --org "$org" "$account" ci-deploy
keygate token revoke --org "$org" "$account" ci-deploy

step "Verify again: refused at once (exit 1 expected)" token verify -
set +e
printf '%s\n' "$token" | keygate token verify -
status=$?
set -e
unset token
if [[ $status -ne 1 ]]; then
  echo "demo: expected verify to exit 1 after revoke, got $status" >&2
  exit 1
fi
echo "(exit $status: the revoked token is refused)"

step "Clean up the demo account and its tokens" \
  sa delete --org "$org" "$account"
keygate sa delete --org "$org" "$account"

printf '\nDemo complete. Store: ./keygate-data, pepper: ./keygate-data.pepper\n'
