"""The machinery behind :class:`mailtrack.Importer`, one module per job (private).

- :mod:`.session`: the run of one mailbox: sender policy check, lease, session (opened, closed
  with QUIT or dropped) and the saved report.
- :mod:`.run`: one session's messages: listing, and the stream of messages (retrieve, convert,
  decide, batch); its docstring follows a message from the listing to QUIT.
- :mod:`.policy`: the one decision path: classify the message, look up the records it names or
  follows, decide (new record, append, skip, quarantine).
- :mod:`.batch`: decided messages waiting for their commit; what a message's decision depends on.
- :mod:`.outcome`: where each message ends (committed, quarantined, skipped), told to the store,
  the server and the tally.
- :mod:`.recheck`: a listed UID the store knows: the same message, or a new one under a reused UID?
- :mod:`.lease`: one worker per mailbox: take, take over, renew and release the lease.
- :mod:`.holders`: who holds a lease: worker IDs that name a process, and whether it still runs.
- :mod:`.tally`: the counters and notes of a run, and the report saved at its end.
- :mod:`.settings`: the importer's parts and throughput settings, as one run sees them.
- :mod:`.conversions`: one run's view of the conversions (chunks, tickets, in the calling thread
  or on a shared pool of workers).
- :mod:`.workers`: the pool of conversion worker processes, safe to share between runs.
- :mod:`.launching`: starting one worker (fork, mailtrack's fork server, or a new interpreter),
  never by re-importing the host's main module, and ending it.
- :mod:`.worker_process`: what runs inside a worker and inside the fork server; dies with its parent.
- :mod:`.threads`: reading ahead in a thread, running mailboxes in a bounded pool of threads.
- :mod:`.stopping`: a stop request that signal handlers and other threads may make.
"""
