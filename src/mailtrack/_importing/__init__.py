"""The machinery behind :class:`mailtrack.Importer`, one module per job (private).

- :mod:`.workers`: the pool of conversion worker processes, safe to share between runs.
- :mod:`.launching`: starting one worker (fork, mailtrack's fork server, or a new interpreter),
  never by re-importing the host's main module, and ending it.
- :mod:`.worker_process`: what runs inside a worker and inside the fork server; dies with its parent.
- :mod:`.conversions`: one run's view of the conversions (chunks, tickets, in the calling thread
  or on a shared pool of workers).
- :mod:`.threads`: reading ahead in a thread, running mailboxes in a bounded pool of threads.
- :mod:`.holders`: who holds a lease: worker IDs that name a process, and whether it still runs.
- :mod:`.stopping`: a stop request that signal handlers and other threads may make.
"""
