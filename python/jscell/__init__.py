"""jscell: V8 JavaScript for Python.

>>> import jscell
>>> with jscell.Runtime() as rt:
...     rt.eval("[1, 2, 3].map(x => x * 2)")
[2, 4, 6]
"""

from . import bounds
from ._config import BACKENDS, Backend, RuntimeConfig
from ._default import bind_function, bind_object, eval, eval_async, get_default_runtime
from ._errors import (
    ExecutionTimeout,
    JavaScriptError,
    RuntimeTerminated,
    SerializationError,
    StackFrame,
    TerminationReason,
)
from ._jscell import JsFunction
from ._runtime import OpMode, Runtime
from ._snapshot import SnapshotBuilder
from ._streams import JsStream, PyStreamSource
from ._values import RuntimeStats, UndefinedType, undefined

__all__ = [
    "BACKENDS",
    "Backend",
    "ExecutionTimeout",
    "JavaScriptError",
    "JsFunction",
    "JsStream",
    "OpMode",
    "PyStreamSource",
    "Runtime",
    "RuntimeConfig",
    "RuntimeStats",
    "RuntimeTerminated",
    "SerializationError",
    "SnapshotBuilder",
    "StackFrame",
    "TerminationReason",
    "UndefinedType",
    "bind_function",
    "bind_object",
    "bounds",
    "eval",
    "eval_async",
    "get_default_runtime",
    "undefined",
]
