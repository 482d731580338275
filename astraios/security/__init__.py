"""Is generated code secure? Checkers for the Asleep-at-the-Keyboard scenarios (the `aatk` task).

- `scenarios`: which rule of which checker decides each of the 40 checkable scenarios, and the
  CodeQL query it stands in for;
- `base`: a finding, a verdict, the checker interface, how several checkers' verdicts combine;
- `checkers`: semgrep, bandit, gcc and cppcheck (offline, in the sandbox's jail) and CodeQL (the
  study's checker) when installed;
- `engine`: many programs at once (deduplicated, batched per analyser, analysers in parallel);
- `scoring`: from whole programs to per-sample statuses and the valid and insecure rates;
- `accuracy`: each built-in checker's precision and recall on the labelled programs in `labelled/`.

This file makes `astraios.security` a regular package (a directory without it is a namespace
package, which setuptools' package discovery leaves out of a wheel); it imports nothing.
"""
