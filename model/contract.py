"""The contract between the bot and the inference worker, in one torch-free module both
sides import: the decoding options, the limits, every request and reply with its JSON
form, and `InputError`, the one way a request is refused.

A request's `from_json` is its only validation of shape, types and ranges; the worker
runs it on what arrives (over HTTP, or in the same process), so both transports refuse
one bad request with the same message. What only the loaded model can judge (a character
it does not know, a form it has not loaded) is refused by the engine, also as InputError.

    POST /v1/sample   SampleRequest  -> PoemsReply
    POST /v1/blend    BlendRequest   -> PoemsReply (seed, method, crossings)
    POST /v1/vary     VaryRequest    -> PoemsReply (seed)
    POST /v1/rewrite  RewriteRequest -> PoemsReply (seed, line)
    POST /v1/encode   EncodeRequest  -> EncodeReply
    GET  /healthz                    -> {"status": "ok", "models": {form: version}, "contract": version()}
A refusal is HTTP 400 {"error": "bad_request", "code": ..., "params": {...}, "message": ...,
"contract": version()}: a code of REFUSALS and its parameters, which the bot words in its
reader's language, and the message in English for API users. Both sides must speak one
contract: the bot's client keeps a replica whose /healthz reports another `version()` out of
rotation, and takes only a refusal that names its own for the user's mistake.

A reply is not trusted: `check_reply(request, reply)` says whether it can be the answer to
its request (the bot's client refuses one that is not, as a broken replica's).

The contract lives in three rooms, re-exported here so that both sides import one name:
`model/options.py` (limits, options, seeds, `InputError` and REFUSALS), `model/wire.py`
(requests, replies, ENDPOINTS) and `model/reply_check.py` (`check_reply`).
"""

from __future__ import annotations

from .options import (
    MAX_N,
    MAX_STEPS,
    MAX_LATENT,
    MAX_SUBJECT_WORDS,
    MAX_WORD,
    MAX_TEXT,
    MAX_BODY,
    version,
    REFUSALS,
    InputError,
    Options,
    parse_options,
    check_seed,
)
from .wire import (
    SampleRequest,
    BlendRequest,
    VaryRequest,
    RewriteRequest,
    EncodeRequest,
    Overloaded,
    ReplyError,
    WrittenPoem,
    PoemsReply,
    EncodeReply,
    ENDPOINTS,
)
from .reply_check import MAX_LATENT_LEN, check_reply

__all__ = [
    "MAX_N",
    "MAX_STEPS",
    "MAX_LATENT",
    "MAX_SUBJECT_WORDS",
    "MAX_WORD",
    "MAX_TEXT",
    "MAX_BODY",
    "version",
    "REFUSALS",
    "InputError",
    "Options",
    "parse_options",
    "check_seed",
    "SampleRequest",
    "BlendRequest",
    "VaryRequest",
    "RewriteRequest",
    "EncodeRequest",
    "Overloaded",
    "ReplyError",
    "WrittenPoem",
    "PoemsReply",
    "EncodeReply",
    "ENDPOINTS",
    "MAX_LATENT_LEN",
    "check_reply",
]
