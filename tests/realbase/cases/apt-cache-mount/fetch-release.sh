#!/bin/sh
# Prints the latest release tag of a GitHub repository: fetch-release OWNER/REPO
set -eu
repo=${1:?usage: fetch-release OWNER/REPO}
curl -fsSL "https://api.github.com/repos/$repo/releases/latest" | jq -r .tag_name
