#!/usr/bin/env bash
# Install a JDK (17+), gcc and cppcheck when missing and apt can be used; otherwise say what will be skipped.
set -u
missing=()
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v cppcheck >/dev/null 2>&1 || missing+=(cppcheck)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
  echo "installing ${missing[*]} (sandbox Java/C support, C security checks)"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null && exit 0
fi
echo "note: ${missing[*]} not installed and apt unavailable; Java/C sandbox tests and cppcheck checks will be skipped" >&2
exit 0
