"""Recursive-descent parser: tokens -> AST.

Precedence, lowest first: textual forms (if/for/some/every/function), `or`, `and`,
comparison (= != < <= > >=, between, in, instance of), + -, * /, **, unary -, postfix
(path `.`, filter `[]`, invocation `()`), primary.

Names may span several words (`string length`, `order total`): consecutive words that are not
reserved join into one name. Built-in names that contain a keyword (`date and time`, `years and
months duration`, `days and time duration`, Camunda's `get or else`) are recognised as a whole
when a call follows. Variable names with symbols or keywords come in as `known_names`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from . import ast as A
from . import types as T
from .errors import FeelError
from .lexer import AT, EOF, NAME, NUM, OP, STR, Token, tokenize
from .limits import PARSE_DEPTH_MAX
from .numbers import number
from .temporal import parse_temporal

RESERVED = {
    "and",
    "or",
    "in",
    "between",
    "then",
    "else",
    "return",
    "satisfies",
    "if",
    "for",
    "some",
    "every",
    "function",
    "true",
    "false",
    "null",
}

KEYWORD_NAMES = (
    ("date", "and", "time"),
    ("years", "and", "months", "duration"),
    ("days", "and", "time", "duration"),
    ("get", "or", "else"),
)

_CMP = ("=", "!=", "<", "<=", ">", ">=")


class Parser:
    """One parse of one text; `parse()` below is the entry point."""

    def __init__(self, text: str, known_names: frozenset[str] = frozenset()) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0
        #: inside the end of a range, where `[` may close it (`[1..10[`)
        self.range_end = 0
        # names from the variables that plain word-joining cannot read (`order-id`,
        # `is in stock`): tried first, longest first, where a primary expression starts
        self.known = sorted(known_names, key=len, reverse=True)

    # ------------------------------------------------------------ helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def advance(self) -> Token:
        t = self.toks[self.i]
        if t.kind != EOF:
            self.i += 1
        return t

    def is_op(self, *ops: str) -> bool:
        t = self.tok
        return t.kind == OP and t.value in ops

    def is_word(self, *words: str) -> bool:
        t = self.tok
        return t.kind == NAME and t.value in words

    def expect_op(self, op: str) -> Token:
        if not self.is_op(op):
            raise self.error(f"expected '{op}'")
        return self.advance()

    def expect_word(self, word: str) -> Token:
        if not self.is_word(word):
            raise self.error(f"expected '{word}'")
        return self.advance()

    def error(self, message: str) -> FeelError:
        """A syntax error at the current token, saying what was found there."""
        t = self.tok
        found = "end of expression" if t.kind == EOF else repr(self.text[t.pos : t.end])
        return FeelError(f"{message}, found {found}", t.pos)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > PARSE_DEPTH_MAX:
            raise FeelError(f"expression nested deeper than {PARSE_DEPTH_MAX}", self.tok.pos)

    # ------------------------------------------------------------ entry points
    def parse_expression(self) -> A.Node:
        node = self.expression()
        if self.tok.kind != EOF:
            raise self.error("unexpected input")
        return node

    # ------------------------------------------------------------ expressions
    def expression(self) -> A.Node:
        self.enter()
        try:
            return self.disjunction()
        finally:
            self.depth -= 1

    def disjunction(self) -> A.Node:
        left = self.conjunction()
        while self.is_word("or"):
            t = self.advance()
            left = A.Binary(t.pos, "or", left, self.conjunction())
        return left

    def conjunction(self) -> A.Node:
        left = self.comparison()
        while self.is_word("and"):
            t = self.advance()
            left = A.Binary(t.pos, "and", left, self.comparison())
        return left

    def comparison(self) -> A.Node:
        left = self.additive()
        while True:
            t = self.tok
            if t.kind == OP and t.value in _CMP:
                self.advance()
                left = A.Binary(t.pos, t.value, left, self.additive())
            elif self.is_word("between"):
                self.advance()
                low = self.additive()
                self.expect_word("and")
                left = A.Between(t.pos, left, low, self.additive())
            elif self.is_word("in"):
                self.advance()
                left = A.In(t.pos, left, self.in_tests())
            elif (
                self.is_word("instance") and self.peek().kind == NAME and self.peek().value == "of"
            ):
                self.advance()
                self.advance()
                left = A.InstanceOf(t.pos, left, self.type_expr())
            else:
                return left

    def additive(self) -> A.Node:
        left = self.multiplicative()
        while self.is_op("+", "-"):
            t = self.advance()
            left = A.Binary(t.pos, t.value, left, self.multiplicative())
        return left

    def multiplicative(self) -> A.Node:
        left = self.power()
        while self.is_op("*", "/"):
            t = self.advance()
            left = A.Binary(t.pos, t.value, left, self.power())
        return left

    def power(self) -> A.Node:
        left = self.unary()
        while self.is_op("**"):
            t = self.advance()
            left = A.Binary(t.pos, "**", left, self.unary())
        return left

    def unary(self) -> A.Node:
        if self.is_op("-"):
            t = self.advance()
            self.enter()
            try:
                operand = self.unary()
            finally:
                self.depth -= 1
            if isinstance(operand, A.Literal) and isinstance(operand.value, Decimal):
                return A.Literal(t.pos, -operand.value)
            return A.Unary(t.pos, "-", operand)
        return self.postfix()

    def postfix(self) -> A.Node:
        node = self.primary()
        while True:
            t = self.tok
            if self.is_op("."):
                self.advance()
                if self.tok.kind != NAME:
                    raise self.error("expected a name after '.'")
                node = A.Path(t.pos, node, self.name_words())
            elif self.is_op("["):
                mark = self.i
                try:
                    self.advance()
                    pred = self.expression()
                    self.expect_op("]")
                except FeelError:
                    if not self.range_end:
                        raise
                    # `[1..10[`: the `[` closes the range (end excluded), it is not a filter
                    self.i = mark
                    return node
                node = A.Filter(t.pos, node, pred)
            elif self.is_op("("):
                node = self.call(node)
            else:
                return node

    def call(self, target: A.Node) -> A.Node:
        t = self.expect_op("(")
        args: list[A.Node] = []
        named: list[tuple[str, A.Node]] | None = None
        if not self.is_op(")"):
            if self.named_arg_ahead():
                named = []
                while True:
                    key = self.name_words(stop_colon=True)
                    self.expect_op(":")
                    named.append((key, self.expression()))
                    if not self.is_op(","):
                        break
                    self.advance()
                    if not self.named_arg_ahead():
                        raise self.error("expected a named argument")
            else:
                while True:
                    args.append(self.expression())
                    if not self.is_op(","):
                        break
                    self.advance()
        self.expect_op(")")
        return A.Call(t.pos, target, args, named)

    def named_arg_ahead(self) -> bool:
        k = 0
        while self.peek(k).kind == NAME:
            k += 1
        return k > 0 and self.peek(k).kind == OP and self.peek(k).value == ":"

    # ------------------------------------------------------------ primaries
    def primary(self) -> A.Node:
        t = self.tok
        if t.kind == NUM:
            self.advance()
            try:
                return A.Literal(t.pos, number(t.value))
            except (InvalidOperation, ArithmeticError) as exc:
                raise FeelError(f"invalid number {t.value}", t.pos) from exc
        if t.kind == STR:
            self.advance()
            return A.Literal(t.pos, t.value)
        if t.kind == AT:
            self.advance()
            value = parse_temporal(t.value)
            if value is None:
                raise FeelError(f"invalid temporal literal @{t.value!r}", t.pos)
            return A.Literal(t.pos, value)
        if t.kind == OP:
            return self.primary_op(t)
        if t.kind == NAME and self.known:
            known = self.match_known()
            if known is not None:
                return A.Name(t.pos, known)
        if t.kind == NAME:
            word = t.value
            if word == "true" or word == "false":
                self.advance()
                return A.Literal(t.pos, word == "true")
            if word == "null":
                self.advance()
                return A.Literal(t.pos, None)
            if word == "if":
                return self.if_expr()
            if word == "for":
                return self.for_expr()
            if word in ("some", "every"):
                return self.quantified()
            if word == "function":
                return self.function_def()
            if word in RESERVED:
                raise self.error("expected an expression")
            return A.Name(t.pos, self.name_words())
        raise self.error("expected an expression")

    def primary_op(self, t: Token) -> A.Node:
        v = t.value
        if v == "(":
            self.advance()
            inner = self.expression()
            if self.is_op(".."):
                return self.range_rest(t.pos, inner, False)
            self.expect_op(")")
            return inner
        if v == "[":
            self.advance()
            if self.is_op("]"):
                self.advance()
                return A.ListNode(t.pos, [])
            first = self.expression()
            if self.is_op(".."):
                return self.range_rest(t.pos, first, True)
            items = [first]
            while self.is_op(","):
                self.advance()
                items.append(self.expression())
            self.expect_op("]")
            return A.ListNode(t.pos, items)
        if v == "]":
            self.advance()
            start = self.expression()
            if not self.is_op(".."):
                raise self.error("expected '..'")
            return self.range_rest(t.pos, start, False)
        if v == "{":
            return self.context()
        if v in ("<", "<=", ">", ">="):
            self.advance()
            endpoint = self.additive()
            if v.startswith("<"):
                return A.RangeNode(t.pos, None, endpoint, False, v == "<=")
            return A.RangeNode(t.pos, endpoint, None, v == ">=", False)
        if v == "=":
            self.advance()
            endpoint = self.additive()
            return A.RangeNode(t.pos, endpoint, endpoint, True, True, single=True)
        raise self.error("expected an expression")

    def range_rest(self, pos: int, start: A.Node, start_included: bool) -> A.Node:
        self.expect_op("..")
        self.range_end += 1
        try:
            end = self.expression()
        finally:
            self.range_end -= 1
        if self.is_op("]"):
            self.advance()
            return A.RangeNode(pos, start, end, start_included, True)
        if self.is_op(")", "["):
            self.advance()
            return A.RangeNode(pos, start, end, start_included, False)
        raise self.error("expected ']', ')' or '[' to close the range")

    def context(self) -> A.Node:
        t = self.expect_op("{")
        entries: list[tuple[str, A.Node]] = []
        if not self.is_op("}"):
            while True:
                if self.tok.kind == STR:
                    key = self.advance().value
                else:
                    key = self.context_key()
                if any(k == key for k, _ in entries):
                    raise FeelError(f"duplicate context key {key!r}", self.tok.pos)
                self.expect_op(":")
                entries.append((key, self.expression()))
                if not self.is_op(","):
                    break
                self.advance()
        self.expect_op("}")
        return A.ContextNode(t.pos, entries)

    def match_known(self) -> str | None:
        """A known name spelled at the current token and ending at a token boundary."""
        start = self.tok.pos
        for name in self.known:
            end = start + len(name)
            if not self.text.startswith(name, start):
                continue
            k = self.i
            while self.toks[k].kind != EOF and self.toks[k].end < end:
                k += 1
            if self.toks[k].end == end:
                self.i = k + 1
                return name
        return None

    def context_key(self) -> str:
        """A context key: words and the extra name symbols (`+ - * / . '`) up to the `:`."""
        if self.tok.kind != NAME:
            raise self.error("expected a context key")
        parts: list[str] = []
        prev_end = None
        while self.tok.kind == NAME or (self.tok.kind == OP and self.tok.value in "+-*/."):
            t = self.advance()
            if prev_end is not None and t.pos > prev_end and t.kind == NAME and parts:
                if self.text[prev_end : t.pos].strip() == "" and parts[-1][-1:].isalnum():
                    parts.append(" ")
            parts.append(t.value)
            prev_end = t.end
        if not self.is_op(":"):
            raise self.error("expected ':'")
        return "".join(parts)

    def name_words(self, stop_colon: bool = False) -> str:
        """Join consecutive non-reserved words into one name (`string length`, `day of week`)."""
        first = self.advance()
        words = [first.value]
        if first.value == "?":
            return "?"
        for kw in KEYWORD_NAMES:
            if first.value == kw[0] and self.words_ahead(kw[1:]):
                after = self.peek(len(kw) - 1)
                if stop_colon or (after.kind == OP and after.value in ("(", ":")):
                    for _ in kw[1:]:
                        self.advance()
                    return " ".join(kw)
        while self.tok.kind == NAME:
            w = self.tok.value
            if w in RESERVED or w == "?":
                break
            if w == "instance" and self.peek().kind == NAME and self.peek().value == "of":
                break
            words.append(w)
            self.advance()
        return " ".join(words)

    def words_ahead(self, words: tuple[str, ...]) -> bool:
        return all(
            self.peek(k).kind == NAME and self.peek(k).value == w for k, w in enumerate(words)
        )

    # ------------------------------------------------------------ textual forms
    def if_expr(self) -> A.Node:
        t = self.advance()
        cond = self.expression()
        self.expect_word("then")
        then = self.expression()
        self.expect_word("else")
        return A.If(t.pos, cond, then, self.expression())

    def for_expr(self) -> A.Node:
        t = self.advance()
        iterators: list[tuple[str, A.Node, A.Node | None]] = []
        while True:
            if self.tok.kind != NAME:
                raise self.error("expected an iteration variable")
            name = self.name_words()
            self.expect_word("in")
            start = self.expression()
            end = None
            if self.is_op(".."):
                self.advance()
                end = self.expression()
            iterators.append((name, start, end))
            if not self.is_op(","):
                break
            self.advance()
        self.expect_word("return")
        return A.For(t.pos, iterators, self.expression())

    def quantified(self) -> A.Node:
        t = self.advance()
        iterators: list[tuple[str, A.Node]] = []
        while True:
            if self.tok.kind != NAME:
                raise self.error("expected a variable")
            name = self.name_words()
            self.expect_word("in")
            iterators.append((name, self.expression()))
            if not self.is_op(","):
                break
            self.advance()
        self.expect_word("satisfies")
        return A.Quantified(t.pos, t.value == "every", iterators, self.expression())

    def function_def(self) -> A.Node:
        t = self.advance()
        self.expect_op("(")
        params: list[tuple[str, object]] = []
        if not self.is_op(")"):
            while True:
                if self.tok.kind != NAME:
                    raise self.error("expected a parameter name")
                name = self.name_words(stop_colon=True)
                ptype = None
                if self.is_op(":"):
                    self.advance()
                    ptype = self.type_expr()
                params.append((name, ptype))
                if not self.is_op(","):
                    break
                self.advance()
        self.expect_op(")")
        if self.tok.kind == NAME and self.tok.value == "external":
            self.advance()
            return A.FunctionDef(t.pos, params, self.expression(), external=True)
        return A.FunctionDef(t.pos, params, self.expression())

    # ------------------------------------------------------------ unary tests
    def in_tests(self) -> list[A.UnaryTest]:
        if self.is_op("("):
            start = self.i
            self.advance()
            first = self.unary_test()
            if self.is_op(".."):
                # `x in (a..b)`: an open-start interval, not a list of tests
                self.i = start
                return [self.unary_test()]
            tests = [first]
            while self.is_op(","):
                self.advance()
                tests.append(self.unary_test())
            self.expect_op(")")
            return tests
        return [self.unary_test()]

    def unary_tests(self) -> tuple[bool, list[A.UnaryTest] | None]:
        """DMN unary tests (an input entry): `-`, `not(tests)` or `test, test, ...`.

        Returns (negated, tests); tests is None for `-` (anything matches). A test is a
        comparison (`< 5`) or any expression, so `? > 5 and ? < 10` works as DMN 1.2+ allows.
        """
        if self.is_op("-") and self.peek().kind == EOF:
            self.advance()
            return False, None
        if self.is_word("not") and self.peek().kind == OP and self.peek().value == "(":
            # `not(tests)` over the whole entry; `not(a) or b` is an ordinary expression
            mark = self.i
            try:
                self.advance()
                self.advance()
                tests = self.positive_unary_tests()
                self.expect_op(")")
                if self.tok.kind == EOF:
                    return True, tests
            except FeelError:
                pass
            self.i = mark
        tests = self.positive_unary_tests()
        if self.tok.kind != EOF:
            raise self.error("unexpected input")
        return False, tests

    def positive_unary_tests(self) -> list[A.UnaryTest]:
        tests = [self.full_unary_test()]
        while self.is_op(","):
            self.advance()
            tests.append(self.full_unary_test())
        return tests

    def full_unary_test(self) -> A.UnaryTest:
        t = self.tok
        if t.kind == OP and t.value in _CMP:
            self.advance()
            return A.UnaryTest(t.pos, t.value, self.additive(), False)
        start = self.i
        node = self.expression()
        uses = any(tok.kind == NAME and tok.value == "?" for tok in self.toks[start : self.i])
        return A.UnaryTest(t.pos, "", node, uses)

    def unary_test(self) -> A.UnaryTest:
        t = self.tok
        if t.kind == OP and t.value in _CMP:
            self.advance()
            return A.UnaryTest(t.pos, t.value, self.additive(), False)
        start = self.i
        node = self.additive()
        uses = any(tok.kind == NAME and tok.value == "?" for tok in self.toks[start : self.i])
        return A.UnaryTest(t.pos, "", node, uses)

    # ------------------------------------------------------------ types
    def type_expr(self) -> tuple:
        t = self.tok
        if t.kind != NAME:
            raise self.error("expected a type")
        if t.value in ("list", "range") and self.peek().kind == OP and self.peek().value == "<":
            self.advance()
            self.advance()
            inner = self.type_expr()
            self.expect_op(">")
            return (t.value, inner)
        if t.value == "context" and self.peek().kind == OP and self.peek().value == "<":
            self.advance()
            self.advance()
            fields = []
            while True:
                key = self.name_words(stop_colon=True)
                self.expect_op(":")
                fields.append((key, self.type_expr()))
                if not self.is_op(","):
                    break
                self.advance()
            self.expect_op(">")
            return ("context", tuple(fields))
        if t.value == "function" and self.peek().kind == OP and self.peek().value == "<":
            self.advance()
            self.advance()
            params = []
            if not self.is_op(">"):
                while True:
                    params.append(self.type_expr())
                    if not self.is_op(","):
                        break
                    self.advance()
            self.expect_op(">")
            self.expect_op("->")
            return ("function", tuple(params), self.type_expr())
        if t.value == "function":
            self.advance()
            return T.named("function")
        return T.named(self.name_words(stop_colon=True))


def parse(text: str, known_names: frozenset[str] = frozenset()) -> A.Node:
    return Parser(text, known_names).parse_expression()
