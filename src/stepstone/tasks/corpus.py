"""A text corpus that is on every machine without a download, split by file, fingerprinted.

By default: a fixed selection of the Python standard library's own source files
(:data:`STDLIB_FILES`, read from ``sysconfig.get_paths()["stdlib"]``). Their content differs
between Python versions, so every file is hashed and the corpus version is the fingerprint of
the hashes, recorded with each run. Or: any folder of text files.

The split is by document, never inside one: a file goes to evaluation when its path's SHA-256
falls in the first ``eval_fraction`` of the hash range, so a file keeps its side when other files
come and go or its content changes between Python versions. Files with identical content are
kept once (the first path in sorted order), and :func:`check_no_leak` then refuses a split in
which any document, by path or by content, sits on both sides: a leaking evaluation is one of
the failures the seeds name.
"""

from __future__ import annotations

import hashlib
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

# Sorted; chosen to exist from Python 3.10 to 3.13 as single modules (not packages that moved).
STDLIB_FILES: tuple[str, ...] = (
    "abc.py", "argparse.py", "ast.py", "base64.py", "bisect.py", "calendar.py", "cmd.py",
    "code.py", "codecs.py", "colorsys.py", "contextlib.py", "copy.py", "csv.py",
    "dataclasses.py", "difflib.py", "dis.py", "enum.py", "filecmp.py", "fnmatch.py",
    "fractions.py", "functools.py", "getopt.py", "gettext.py", "glob.py", "gzip.py", "heapq.py",
    "hmac.py", "inspect.py", "ipaddress.py", "json/__init__.py", "json/decoder.py",
    "json/encoder.py", "linecache.py", "locale.py", "logging/__init__.py", "numbers.py",
    "operator.py", "optparse.py", "os.py", "pprint.py", "queue.py", "random.py", "reprlib.py",
    "sched.py", "secrets.py", "selectors.py", "shlex.py", "shutil.py", "statistics.py",
    "string.py", "subprocess.py", "tabnanny.py", "textwrap.py", "threading.py", "timeit.py",
    "tokenize.py", "traceback.py", "types.py", "typing.py", "uuid.py", "warnings.py",
    "weakref.py",
)  # fmt: skip

MAX_FILE_BYTES = 2_000_000


class DataLeakError(ValueError):
    """A document appears in both the training and the evaluation split."""


@dataclass(frozen=True)
class Document:
    path: str  # relative to the corpus root, with forward slashes
    data: bytes
    sha256: str


@dataclass(frozen=True)
class Corpus:
    source: str  # "python-stdlib-3.11" or the folder
    train: tuple[Document, ...]
    eval: tuple[Document, ...]
    missing: tuple[str, ...] = ()  # selected files that were not there
    duplicates: tuple[str, ...] = ()  # paths dropped because their content was already in
    fingerprint: str = field(default="")

    def manifest(self) -> dict[str, object]:
        """What a run records about its data."""
        return {
            "data/source": self.source,
            "data/fingerprint": self.fingerprint,
            "data/train_fingerprint": fingerprint(self.train),
            "data/eval_fingerprint": fingerprint(self.eval),
            "data/train_files": len(self.train),
            "data/eval_files": len(self.eval),
            "data/train_bytes": sum(len(d.data) for d in self.train),
            "data/eval_bytes": sum(len(d.data) for d in self.eval),
            "data/missing_files": len(self.missing),
            "data/duplicate_files": len(self.duplicates),
        }


def fingerprint(docs: tuple[Document, ...] | list[Document]) -> str:
    """SHA-256 over the sorted (path, content hash) pairs of ``docs``."""
    h = hashlib.sha256()
    for doc in sorted(docs, key=lambda d: d.path):
        h.update(f"{doc.path}\t{doc.sha256}\n".encode())
    return h.hexdigest()


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _read(root: Path, rel: str) -> Document | None:
    path = root / rel
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) > MAX_FILE_BYTES or b"\x00" in data:  # not a text file we want
        return None
    return Document(rel, data, hashlib.sha256(data).hexdigest())


def read_stdlib(files: tuple[str, ...] = STDLIB_FILES) -> tuple[list[Document], list[str]]:
    """The selected standard-library sources that exist here, and the ones that do not."""
    root = stdlib_root()
    docs, missing = [], []
    for rel in files:
        doc = _read(root, rel)
        if doc is None:
            missing.append(rel)
        else:
            docs.append(doc)
    return docs, missing


def read_folder(folder: str | Path, pattern: str = "**/*") -> list[Document]:
    """Every text file under ``folder`` matching ``pattern``, in sorted path order."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder {str(root)!r} does not exist")
    docs = []
    for path in sorted(root.glob(pattern)):
        if path.is_file() and not any(
            part.startswith(".") for part in path.relative_to(root).parts
        ):
            doc = _read(root, path.relative_to(root).as_posix())
            if doc is not None and doc.data:
                docs.append(doc)
    return docs


def goes_to_eval(path: str, eval_fraction: float) -> bool:
    """The split rule: the path's SHA-256, read as a fraction of its range, is below
    ``eval_fraction``."""
    digest = hashlib.sha256(path.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction


def split_documents(
    docs: list[Document], eval_fraction: float
) -> tuple[list[Document], list[Document], list[str]]:
    """(train, eval, dropped duplicate paths). Keeps at least one document on each side."""
    if len(docs) < 2:
        raise ValueError(f"a corpus needs at least 2 documents to split, found {len(docs)}")
    seen: set[str] = set()
    unique, duplicates = [], []
    for doc in sorted(docs, key=lambda d: d.path):
        if doc.sha256 in seen:
            duplicates.append(doc.path)
        else:
            seen.add(doc.sha256)
            unique.append(doc)
    train = [d for d in unique if not goes_to_eval(d.path, eval_fraction)]
    eval_ = [d for d in unique if goes_to_eval(d.path, eval_fraction)]
    if not eval_:  # a tiny corpus: take the file with the smallest path hash
        first = min(train, key=lambda d: hashlib.sha256(d.path.encode()).digest())
        train.remove(first)
        eval_ = [first]
    if not train:
        raise ValueError("every document went to evaluation: lower eval_fraction")
    return train, eval_, duplicates


def check_no_leak(train: tuple[Document, ...], eval_: tuple[Document, ...]) -> None:
    """Raise :class:`DataLeakError` when a document is on both sides, by path or by content."""
    same_path = {d.path for d in train} & {d.path for d in eval_}
    same_content = {d.sha256 for d in train} & {d.sha256 for d in eval_}
    if same_path or same_content:
        names = sorted(same_path) or sorted(d.path for d in eval_ if d.sha256 in same_content)
        raise DataLeakError(
            f"{len(names)} evaluation document(s) also in training, e.g. {names[0]!r}"
        )


def load_corpus(folder: str = "", eval_fraction: float = 0.2, pattern: str = "**/*") -> Corpus:
    """The default standard-library corpus (``folder`` empty) or a folder of text files,
    split by document, checked for leaks and fingerprinted."""
    import sys

    missing: list[str] = []
    if folder:
        docs, source = read_folder(folder, pattern), str(Path(folder).resolve())
    else:
        docs, missing = read_stdlib()
        source = f"python-stdlib-{sys.version_info.major}.{sys.version_info.minor}"
    train, eval_, duplicates = split_documents(docs, eval_fraction)
    check_no_leak(tuple(train), tuple(eval_))
    return Corpus(
        source=source,
        train=tuple(train),
        eval=tuple(eval_),
        missing=tuple(missing),
        duplicates=tuple(duplicates),
        fingerprint=fingerprint(train + eval_),
    )
