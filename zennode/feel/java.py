"""External functions mapped to Java (DMN 1.5, 10.3.2.13.3), for a fixed set of java.lang methods.

    function(a, b) external
        {java: {class: "java.lang.Math", method signature: "max(double, double)"}}

zennode runs no JVM and no host code. The methods listed in `_METHODS` are re-implemented
with Java's parameter and result conversions (a FEEL number becomes a `double`, `float`,
`int`, ...; the Java result becomes a FEEL number again: a `float` by its shortest text, as
Java prints it). They are pure and deterministic: exponentials, logarithms, powers and
trigonometric functions are computed in decimal with 40 digits and rounded once to a double,
so every replica gets the same bits whatever its C library. Any other class, method or
signature is an error when the function is called.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable
from decimal import Context, Decimal, DecimalException, InvalidOperation
from typing import Any

from .errors import FeelError
from .values import to_string

JavaMethod = Callable[..., Any]

_INT_RANGES = {
    "byte": (-(2**7), 2**7 - 1),
    "short": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
}
_NUMERIC = ("int", "long", "float", "double")
_DEC = Context(prec=40)


def resolve(mapping: Any) -> tuple[JavaMethod | None, str]:
    """(method, description) for a FEEL mapping `{java: {class, method signature}}`;
    method is None when it is not one of ours (description says why)."""
    if not isinstance(mapping, dict):
        return None, "an external function needs a mapping context"
    if "java" not in mapping:
        kind = next(iter(mapping), "?")
        return None, f"external functions of kind '{kind}' are not supported"
    java = mapping["java"]
    if not isinstance(java, dict):
        return None, "the java mapping must be a context"
    cls, signature = java.get("class"), java.get("method signature")
    if not isinstance(cls, str) or not isinstance(signature, str):
        return None, "the java mapping needs 'class' and 'method signature' strings"
    m = re.fullmatch(r"\s*([\w$]+)\s*\((.*)\)\s*", signature)
    if m is None:
        return None, f"invalid method signature '{signature}'"
    params = tuple(_type(p) for p in m.group(2).split(",") if p.strip())
    key = (cls.strip(), m.group(1), params)
    entry = _METHODS.get(key)
    where = f"{cls}.{m.group(1)}({', '.join(params)})"
    if entry is None:
        return None, f"no Java method {where} (zennode implements a fixed set of java.lang)"
    impl, result = entry

    def call(*args: Any) -> Any:
        values = _arguments(list(args), params, where)
        try:
            out = impl(*values)
        except (ArithmeticError, ValueError, DecimalException) as exc:
            raise FeelError(f"{where} failed: {type(exc).__name__}") from None
        return _result(out, result)

    return call, where


def _type(text: str) -> str:
    t = text.strip()
    if t == "[Ljava.lang.Object;" or t.endswith("..."):
        return "Object..."
    for prefix in ("java.lang.", "java.math."):
        if t.startswith(prefix):
            return t[len(prefix) :]
    return t


# ---------------------------------------------------------------- conversions


def _arguments(args: list[Any], params: tuple[str, ...], where: str) -> list[Any]:
    if params and params[-1] == "Object...":
        fixed = len(params) - 1
        if len(args) < fixed:
            raise FeelError(f"{where} takes at least {fixed} arguments")
        return [_java(a, p, where) for a, p in zip(args, params[:fixed], strict=False)] + [
            [_java(a, "Object", where) for a in args[fixed:]]
        ]
    if len(args) != len(params):
        raise FeelError(f"{where} takes {len(params)} arguments, not {len(args)}")
    return [_java(a, p, where) for a, p in zip(args, params, strict=True)]


def _java(value: Any, java_type: str, where: str) -> Any:
    """A FEEL value as the Java parameter type wants it; FeelError when it cannot be."""
    if java_type in ("Object", "BigDecimal", "Number") and (
        java_type == "Object" or type(value) is Decimal
    ):
        return value
    if java_type == "String":
        if value is None or type(value) is str:
            return value
    elif java_type == "char":
        if type(value) is str and len(value) == 1:
            return value
    elif java_type == "boolean":
        if type(value) is bool:
            return value
    elif type(value) is Decimal:
        if java_type == "double":
            return float(value)
        if java_type == "float":
            return _float32(float(value))
        if java_type in _INT_RANGES:
            whole = int(value)  # Java's intValue(): toward zero
            low, high = _INT_RANGES[java_type]
            if low <= whole <= high:
                return whole
    raise FeelError(f"{where}: cannot pass {to_string(value)} as a Java {java_type}")


def _float32(x: float) -> float:
    try:
        return struct.unpack("f", struct.pack("f", x))[0]
    except (OverflowError, struct.error):
        return math.copysign(math.inf, x)


def _result(value: Any, java_type: str) -> Any:
    """A Java result as a FEEL value."""
    if value is None:
        return None
    if java_type in ("double", "float"):
        if math.isnan(value) or math.isinf(value):
            return None
        if java_type == "float":
            for digits in range(1, 10):
                text = f"{value:.{digits}g}"
                if _float32(float(text)) == value:
                    return Decimal(text)
        return Decimal(repr(value))
    if java_type in _INT_RANGES:
        return Decimal(value)
    return value


# ---------------------------------------------------------------- deterministic math


def _pi(prec: int) -> Decimal:
    """pi to `prec` digits (the decimal module's recipe)."""
    ctx = Context(prec=prec + 2)
    three = Decimal(3)
    lasts, t, s, n, na, d, da = Decimal(0), three, three, 1, 0, 0, 24
    while s != lasts:
        lasts = s
        n, na = n + na, na + 8
        d, da = d + da, da + 32
        t = ctx.divide(ctx.multiply(t, n), d)
        s = ctx.add(s, t)
    return Context(prec=prec).plus(s)


def _sin_cos(x: float) -> tuple[Decimal, Decimal]:
    """(sin x, cos x) to 40 digits, reducing x modulo 2 pi with enough digits for its size."""
    exact = Decimal(x)  # the double's exact binary value
    prec = 45 + max(0, exact.adjusted())
    ctx = Context(prec=prec)
    two_pi = ctx.multiply(_pi(prec), 2)
    r = ctx.remainder_near(exact, two_pi)
    ctx = Context(prec=45)
    term, total_sin, k = r, r, 1
    square = ctx.multiply(r, r)
    while True:
        term = ctx.divide(ctx.multiply(-term, square), (2 * k) * (2 * k + 1))
        if abs(term) < Decimal("1e-44"):
            break
        total_sin = ctx.add(total_sin, term)
        k += 1
    term, total_cos, k = Decimal(1), Decimal(1), 1
    while True:
        term = ctx.divide(ctx.multiply(-term, square), (2 * k - 1) * (2 * k))
        if abs(term) < Decimal("1e-44"):
            break
        total_cos = ctx.add(total_cos, term)
        k += 1
    return total_sin, total_cos


def _finite(x: float) -> bool:
    return not (math.isnan(x) or math.isinf(x))


def _sin(x: float) -> float:
    return float(_sin_cos(x)[0]) if _finite(x) else math.nan


def _cos(x: float) -> float:
    return float(_sin_cos(x)[1]) if _finite(x) else math.nan


def _tan(x: float) -> float:
    if not _finite(x):
        return math.nan
    s, c = _sin_cos(x)
    return float(_DEC.divide(s, c))


def _decimal_fn(name: str) -> Callable[[float], float]:
    def run(x: float) -> float:
        if math.isnan(x):
            return math.nan
        if name in ("ln", "log10") and x < 0:
            return math.nan
        if name in ("ln", "log10") and x == 0:
            return -math.inf
        if math.isinf(x):
            return {"exp": math.inf if x > 0 else 0.0}.get(name, math.inf)
        try:
            return float(getattr(_DEC, name)(Decimal(x)))
        except (InvalidOperation, ArithmeticError):
            return math.inf

    return run


def _pow(a: float, b: float) -> float:
    if not (_finite(a) and _finite(b)):
        return math.pow(a, b)  # the IEEE special cases, exactly as Java specifies them
    if a < 0 and b != int(b):
        return math.nan
    try:
        if b == int(b) and abs(b) <= 10_000:
            return float(_DEC.power(Decimal(a), int(b)))
        return float(_DEC.power(Decimal(a), Decimal(b)))
    except (InvalidOperation, ArithmeticError):
        return math.inf
    except ZeroDivisionError:
        return math.inf


def _cbrt(x: float) -> float:
    if not _finite(x) or x == 0:
        return x
    root = _DEC.exp(_DEC.divide(_DEC.ln(Decimal(abs(x))), 3))
    return math.copysign(float(root), x)


def _round(x: float) -> int:
    if math.isnan(x):
        return 0
    return math.floor(x + 0.5)


def _signum(x: float) -> float:
    return x if x == 0 or math.isnan(x) else math.copysign(1.0, x)


def _parse_int(text: Any, java_type: str) -> int:
    if text is None or not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f"not a Java {java_type}")
    value = int(text)
    low, high = _INT_RANGES[java_type]
    if not low <= value <= high:
        raise ValueError("out of range")
    return value


def _parse_double(text: Any) -> float:
    if text is None:
        raise ValueError("null")
    t = text.strip()
    if re.fullmatch(r"[+-]?(NaN|Infinity)", t):
        return float(t.replace("Infinity", "inf"))
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[fFdD]?", t):
        raise ValueError("not a Java double")
    return float(t.rstrip("fFdD"))


def _java_string(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if type(v) is Decimal:
        return to_string(v)
    return str(v) if isinstance(v, str) else to_string(v)


#: widest field / most digits a format may ask for (the sandbox bounds every string built)
_FORMAT_WIDTH_MAX = 1000
_FORMAT = re.compile(r"%(\d+\$)?([-#+ 0,(]*)(\d+)?(\.\d+)?([a-zA-Z%])")


def _format(pattern: Any, args: list[Any]) -> str:
    """java.lang.String.format for %s %d %f %e %x %c %b %n %%."""
    if pattern is None:
        raise ValueError("null format")
    position = 0

    def one(m: re.Match[str]) -> str:
        nonlocal position
        index, flags, width, precision, conv = m.groups()
        if conv == "n":
            return "\n"
        if conv == "%":
            return "%"
        if index:
            arg_index = int(index[:-1]) - 1
        else:
            arg_index = position
            position += 1
        if arg_index >= len(args):
            raise ValueError("missing format argument")
        arg = args[arg_index]
        if int(width or 0) > _FORMAT_WIDTH_MAX or int((precision or ".0")[1:]) > _FORMAT_WIDTH_MAX:
            raise ValueError("format width or precision too large")
        spec = _spec(flags, width, precision)
        if conv in "sS":
            text = _java_string(arg)
            out = format(text, f"{'<' if '-' in flags else '>'}{width or ''}")
            return out.upper() if conv == "S" else out
        if conv == "d":
            if type(arg) is not Decimal or arg != arg.to_integral_value():
                raise ValueError("%d needs an integer")
            return format(int(arg), _spec(flags, width, None) + "d")
        if conv == "f":
            if type(arg) is not Decimal:
                raise ValueError("%f needs a number")
            return format(arg, spec + ("f" if precision else ".6f"))
        if conv in "eEgG":
            if type(arg) is not Decimal:
                raise ValueError(f"%{conv} needs a number")
            return format(float(arg), spec + ("" if precision else ".6") + conv)
        if conv in "xX":
            if type(arg) is not Decimal or arg != arg.to_integral_value():
                raise ValueError("%x needs an integer")
            return format(int(arg), _spec(flags, width, None) + conv)
        if conv == "c":
            if not isinstance(arg, str) or len(arg) != 1:
                raise ValueError("%c needs a character")
            return arg
        if conv in "bB":
            text = "false" if arg is None or arg is False else "true"
            return text.upper() if conv == "B" else text
        raise ValueError(f"unsupported conversion %{conv}")

    return _FORMAT.sub(one, pattern)


def _spec(flags: str, width: str | None, precision: str | None) -> str:
    """Java format flags and width as a Python format spec."""
    return (
        ("<" if "-" in flags else "")
        + ("+" if "+" in flags else " " if " " in flags else "")
        + ("0" if "0" in flags and "-" not in flags else "")
        + (width or "")
        + ("," if "," in flags else "")
        + (precision or "")
    )


def _double_text(value: Any, java_type: str) -> str:
    """Double.toString / Float.toString: shortest digits, plain between 10^-3 and 10^7,
    otherwise computerized scientific notation (`1.0E10`)."""
    x = float(value)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    d = _result(x, java_type)
    assert isinstance(d, Decimal)
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        text = format(d, "f")
        return text if "." in text else text + ".0"
    sign, digits, exponent = d.normalize().as_tuple()
    mantissa = "".join(map(str, digits))
    power = len(digits) - 1 + int(exponent)
    body = mantissa[0] + "." + (mantissa[1:] or "0")
    return ("-" if sign else "") + f"{body}E{power}"


def _methods() -> dict[tuple[str, str, tuple[str, ...]], tuple[JavaMethod, str]]:
    table: dict[tuple[str, str, tuple[str, ...]], tuple[JavaMethod, str]] = {}

    def add(cls: str, name: str, params: tuple[str, ...], fn: JavaMethod, result: str) -> None:
        table[(f"java.lang.{cls}", name, params)] = (fn, result)

    for t in _NUMERIC:
        add("Math", "max", (t, t), max, t)
        add("Math", "min", (t, t), min, t)
        add("Math", "abs", (t,), abs, t)
    for name, fn in (
        ("sin", _sin),
        ("cos", _cos),
        ("tan", _tan),
        ("exp", _decimal_fn("exp")),
        ("log", _decimal_fn("ln")),
        ("log10", _decimal_fn("log10")),
        ("sqrt", lambda x: math.sqrt(x) if x >= 0 else math.nan),  # IEEE: correctly rounded
        ("cbrt", _cbrt),
        ("floor", math.floor),
        ("ceil", math.ceil),
        ("rint", lambda x: float(round(x)) if _finite(x) else x),
        ("signum", _signum),
        ("toRadians", lambda x: float(_DEC.divide(_DEC.multiply(Decimal(x), _pi(40)), 180))),
        ("toDegrees", lambda x: float(_DEC.divide(_DEC.multiply(Decimal(x), 180), _pi(40)))),
    ):
        add("Math", name, ("double",), lambda x, fn=fn: float(fn(x)), "double")
    add("Math", "pow", ("double", "double"), _pow, "double")
    add("Math", "round", ("double",), _round, "long")
    add("Math", "round", ("float",), _round, "int")
    add("Math", "signum", ("float",), _signum, "float")
    for cls, t in (("Integer", "int"), ("Long", "long"), ("Short", "short"), ("Byte", "byte")):
        parse = "parseInt" if t == "int" else f"parse{cls}"
        add(cls, "valueOf", ("String",), lambda s, t=t: _parse_int(s, t), t)
        add(cls, parse, ("String",), lambda s, t=t: _parse_int(s, t), t)
        add(cls, "valueOf", (t,), lambda v: v, t)
        add(cls, "toString", (t,), str, "String")
    for cls, t in (("Double", "double"), ("Float", "float")):
        add(cls, "valueOf", ("String",), lambda s, t=t: _typed(_parse_double(s), t), t)
        add(cls, f"parse{cls}", ("String",), lambda s, t=t: _typed(_parse_double(s), t), t)
        add(cls, "valueOf", (t,), lambda v: v, t)
        add(cls, "toString", (t,), lambda v, t=t: _double_text(v, t), "String")
    add("Boolean", "valueOf", ("String",), _parse_boolean, "boolean")
    add("Boolean", "parseBoolean", ("String",), _parse_boolean, "boolean")
    add("Boolean", "valueOf", ("boolean",), lambda v: v, "boolean")
    for t in ("double", "float"):
        add("String", "valueOf", (t,), lambda v, t=t: _double_text(v, t), "String")
    for t in ("int", "long", "boolean", "char", "Object"):
        add("String", "valueOf", (t,), lambda v, t=t: _java_string(_result(v, t)), "String")
    add("String", "format", ("String", "Object..."), _format, "String")
    return table


def _parse_boolean(text: Any) -> bool:
    return text is not None and text.lower() == "true"


def _typed(x: float, java_type: str) -> float:
    return _float32(x) if java_type == "float" else x


_METHODS = _methods()
