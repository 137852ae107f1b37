"""Development sessions: ``nox`` runs tests, lint and typecheck; ``nox -s docs``, ``examples``, ``bench``."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_venv = "yes"
nox.options.default_venv_backend = "venv"

PYPROJECT = nox.project.load_toml("pyproject.toml")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (real servers are used where they run, skipped with a reason otherwise)."""
    session.install("-e", ".[all]", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package, the examples (which show the public API as users type it), the
    tests, the scripts and this file."""
    session.install("-e", ".[all]", *nox.project.dependency_groups(PYPROJECT, "typecheck"))
    session.run("mypy", "--strict", "src", "examples", "tests", "scripts", "noxfile.py")


@nox.session
def coverage(session: nox.Session) -> None:
    """The test suite under coverage.py: line and branch coverage of the package, in the terminal
    (``-- --html`` also writes htmlcov/). Code run in child processes is not counted."""
    session.install("-e", ".[all]", *nox.project.dependency_groups(PYPROJECT, "test", "coverage"))
    html = "--html" in session.posargs
    pytest_args = [arg for arg in session.posargs if arg != "--html"]
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", "-p", "no:cacheprovider", *pytest_args)
    session.run("coverage", "report", "--skip-covered", "--sort=cover")
    if html:
        session.run("coverage", "html")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the HTML documentation with Sphinx; nitpicky, warnings are errors (no network needed)."""
    # The test group too: autodoc imports RecordStoreContract, which needs pytest.
    session.install("-e", ".[all]", *nox.project.dependency_groups(PYPROJECT, "docs", "test"))
    session.run(
        "sphinx-build", "-n", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html", *session.posargs
    )


@nox.session
def examples(session: nox.Session) -> None:
    """Run every script in examples/ (each must exit 0), then every Python block of the README and
    the how-tos as written (scripts/run_doc_code.py; the Django and Flask ones need those)."""
    session.install("-e", ".[all]", *nox.project.dependency_groups(PYPROJECT, "test", "howto"))
    scripts = sorted(Path("examples").glob("*.py"))
    if not scripts:
        session.error("examples/ holds no scripts")
    for script in scripts:
        session.log(f"--- {script}")
        session.run("python", str(script))
    session.log("--- the code of README.md and docs/howto/*.md")
    session.run("python", "scripts/run_doc_code.py")


@nox.session
def screenshots(session: nox.Session) -> None:
    """Take the docs' screenshots of the web pages (docs/_static/web/*.png) by running the browser
    tests; needs the distribution's Chromium (``apt-get install chromium chromium-driver``).
    Commit the pictures: the docs build itself needs no browser."""
    session.install("-e", ".[all]", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.env["MAILTRACK_SCREENSHOTS"] = str(Path("docs/_static/web").resolve())
    session.env["MAILTRACK_BROWSER"] = "required"
    session.run("pytest", "-p", "no:cacheprovider", "tests/web/test_browser.py", *session.posargs)


@nox.session
def stress(session: nox.Session) -> None:
    """The robustness loops at full length (``.ci/run`` runs them with small counts): 20 rounds of
    the 200-mailbox worker stress tests, the kill tests, and an archive import of 5,000 messages
    killed at random moments."""
    session.install("-e", ".[all]", *nox.project.dependency_groups(PYPROJECT, "test"))
    session.env["MAILTRACK_STRESS_ROUNDS"] = "20"
    session.env["MAILTRACK_ARCHIVE_MESSAGES"] = "5000"
    session.run(
        "pytest",
        "tests/importing/test_worker_processes.py",
        "tests/importing/test_stopping.py",
        "tests/importing/test_lease_takeover.py",
        "tests/robustness/test_sigkill.py",
        "tests/robustness/test_sigkill_imap.py",
        "tests/robustness/test_archive_sigkill.py",
        *session.posargs,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark (benchmarks/run.py): mailtrack against fetchmail, getmail6, mpop; not run by default.

    ``nox -s bench -- --quick`` for a short run; any other arguments go to benchmarks/run.py.
    Then the inbound relay route into SQLite and PostgreSQL (benchmarks/bench_inbound.py).
    """
    session.install("-e", ".[sql,postgresql,inbound]")
    session.run("python", "benchmarks/run.py", *session.posargs)
    session.run(
        "python", "benchmarks/bench_inbound.py", *(["--quick"] if "--quick" in session.posargs else [])
    )


@nox.session(name="bench-imap")
def bench_imap(session: nox.Session) -> None:
    """IMAP beside POP3 and mbsync (benchmarks/bench_imap.py; needs Dovecot and isync); not run by
    default. Arguments go to the script (``-- --n 200 --runs 1`` for a short run)."""
    session.install("-e", ".[sql]")
    session.run("python", "benchmarks/bench_imap.py", *session.posargs)


@nox.session(name="bench-cpu")
def bench_cpu(session: nox.Session) -> None:
    """CPU per message, A/B against another checkout (benchmarks/bench_cpu.py), and where the
    importing thread's CPU goes (benchmarks/bench_cpu_split.py); not run by default. Give the
    other checkout's interpreter: ``-- --baseline-python ../main/.venv/bin/python``."""
    session.install("-e", ".[sql]")
    session.run("python", "benchmarks/bench_cpu_split.py")
    session.run("python", "benchmarks/bench_cpu.py", *session.posargs)
