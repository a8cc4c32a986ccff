"""The avatar data stream, in plain Python (no Django), because the same code runs in the
session consumer, the sandbox avatar, the benchmarks and the tests.

Agora carries at most 1,024 bytes per message and 6,000 bytes per second per sender. Each
module does one job: ``codec`` (JSON encoding, sizes, the frames the site and the avatar
send), ``chunker`` (text into frames filled to the byte), ``parser`` (a frame into a typed
message) and ``pacer`` (releasing frames as early as a sliding window of one second plus the jitter
allowance allows).
"""
