"""Defaults of a chat policy, in one place: the policy factory, the policies and the CLI's
model options read them from here.

Kept free of heavy imports so that the command line can show them without loading ``openai``
or ``torch``.
"""

DEFAULT_API_KEY_VAR = "OPENAI_API_KEY"
"""The environment variable that holds an endpoint's API key."""

REQUEST_TIMEOUT_S = 120.0
"""Seconds one request attempt may take, for the whole response (not per byte)."""

MAX_RETRIES = 6
"""Retries of a request after a rate limit, server error, timeout or dropped connection."""

MAX_CONCURRENCY = 32
"""Requests in flight at once at an endpoint when the caller names no bound."""

LOCAL_MAX_NEW_TOKENS = 128
"""Tokens per reply of a local model when no ``max_tokens`` is given."""

LOCAL_TEMPERATURE = 0.7
"""Sampling temperature of a local model when none is given."""

LOCAL_TOP_P = 1.0
"""Nucleus sampling of a local model when none is given."""

LOCAL_BATCH_SIZE = 16
"""Replies a local model generates in one batch when the caller names no bound."""
