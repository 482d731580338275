#!/usr/bin/env bash
# Install a JDK (17+), gcc, cppcheck and chromium when missing and apt can be used; otherwise say what
# will be skipped. chromium (headless) opens the HTML report in the tests (tests/test_report_browser.py).
set -u
find_missing() {
  missing=()
  command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
  command -v gcc >/dev/null 2>&1 || missing+=(gcc)
  command -v cppcheck >/dev/null 2>&1 || missing+=(cppcheck)
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
}
find_missing
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
  echo "installing ${missing[*]} (sandbox Java/C support, C security checks, the browser check of the HTML report)"
  if $sudo apt-get update -qq; then
    # Only what this distribution packages (Ubuntu has no `chromium` package), so that the rest still installs.
    available=()
    for package in "${missing[@]}"; do
      apt-cache show "$package" >/dev/null 2>&1 && available+=("$package")
    done
    [ ${#available[@]} -gt 0 ] && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${available[@]}" >/dev/null
    find_missing
    [ ${#missing[@]} -eq 0 ] && exit 0
  fi
fi
echo "note: ${missing[*]} not installed (no apt, no root or sudo, or no such package here); the Java/C sandbox tests," \
     "cppcheck checks and the browser check of the HTML report that need them will be skipped" >&2
exit 0
