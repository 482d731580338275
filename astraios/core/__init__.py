"""The foundation every layer stands on; it imports nothing else of astraios.

- `io`: atomic writes, strict JSON/JSONL/YAML reading (`CorruptFileError` names the file);
- `schema`: the strict pydantic base of every config section;
- `locks`: directory locks (flock + pid/host) for runs, evaluations and grids;
- `hub`: one-line errors for the Hugging Face Hub and local paths;
- `noise`: silencing third-party warnings that say nothing to an astraios user;
- `layout`: the on-disk layout of a run directory, an evaluation and a grid (file names, what each means).
"""
