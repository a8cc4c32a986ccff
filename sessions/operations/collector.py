"""Python's cyclic garbage collector, tuned for a served process that holds many sockets.

A full collection walks every tracked object while the event loop waits. A process with a
thousand open sockets holds a large heap (Django, its models, and each socket's consumer,
pacer, feed and tasks), and each full pass paused every socket for 100-300 ms: measured
with bench/load.py (1,000 page sockets), the collector alone made the chat latency's p99
190 ms instead of 9 ms, and its maximum 300 ms.

So, once the application is loaded, what is loaded (modules, settings, URL patterns,
templates: never garbage) is frozen out of the collector's sight (`gc.freeze`), and young
objects are collected less often (`GC_GEN0_THRESHOLD` allocations instead of 700), so
that a message's short-lived objects are freed by reference counting before a collection
can promote them into the old generation whose size sets the cost of a full pass.
Reference cycles are still collected, just in fewer, smaller passes.
"""

from __future__ import annotations

import gc

from django.conf import settings

# How many collections of one generation make one of the next: Python's are 10 and 10.
# With a young generation this much larger, these keep a full pass about as rare in
# allocations as the defaults would.
GEN1_THRESHOLD = 50
GEN2_THRESHOLD = 100


def tune_for_serving() -> None:
    """Called once the application is imported, before the first connection."""
    threshold = settings.GC_GEN0_THRESHOLD
    if threshold <= 0:
        return  # Python's own defaults
    gc.collect()  # nothing collectable is frozen with the rest
    gc.freeze()
    gc.set_threshold(threshold, GEN1_THRESHOLD, GEN2_THRESHOLD)
