//! A parser for the Python literals that `.npy` headers are made of (what `ast.literal_eval`
//! accepts and numpy writes): dicts, tuples, lists, strings, integers, `True`/`False`/`None`.
//! It never evaluates anything, and caps nesting depth so hostile headers cannot overflow the stack.
//!
//! Accepted beyond what numpy itself writes, because other writers (and Python 2) produce it:
//! either quote style (triple quotes too), `u`/`r` string prefixes, adjacent strings concatenated (`'a' 'b'`), every
//! Python escape except `\N{...}`, `+`/`-` signs, `0x`/`0o`/`0b` and `_` in integers, the
//! Python 2 long suffix `3L` (only where the caller allows it, see [`parse_dict_entries_with`]),
//! simple floats, trailing commas, `#` comments and `\`-newline continuations. Refused: sets,
//! bytes literals, complex numbers, anything that is not a literal.

use std::fmt;
use std::ops::Range;

/// A parsed Python literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    /// Python ints are unbounded; anything beyond i128 is a parse error.
    Int(i128),
    Float(f64),
    Bool(bool),
    None,
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
    /// Key/value pairs in source order (duplicates are reported by the caller).
    Dict(Vec<(Literal, Literal)>),
}

/// Deepest nesting accepted; numpy's own headers nest a few levels.
pub const MAX_DEPTH: usize = 64;

/// Most values (every string, number, tuple, ... counts one) in one parsed text. A parsed
/// value takes some 32 bytes however short its text (`1,` is two), so without a budget a
/// header of the largest size allowed (16 MiB) would take 400 MB. A record field is three
/// values, and as a table column costs about 1 KB more (its Arrow field, array, metadata):
/// this budget admits records of up to some 43,000 fields, and keeps the largest header, or
/// the widest table, under 4× the header cap (64 MiB).
pub const MAX_VALUES: usize = 1 << 17;

/// Parse one literal, allowing surrounding whitespace. Errors are one line, with the byte offset.
pub fn parse(text: &str) -> Result<Literal, String> {
    parse_located(text).map_err(|e| e.to_string())
}

/// A parse error: what went wrong, and the byte offset in the parsed text where it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

/// Like [`parse`], with the error's offset kept as a number (so a caller can translate it).
pub fn parse_located(text: &str) -> Result<Literal, ParseError> {
    let mut parser = Parser::new(text);
    let value = parser.value(0)?;
    parser.end()?;
    Ok(value.literal)
}

/// One `key: value` entry of a dict, with the value's source text (as written, unparsed).
#[derive(Debug, Clone, PartialEq)]
pub struct DictEntry<'a> {
    pub key: Literal,
    pub value: Literal,
    pub value_source: &'a str,
}

/// Parse `text` as a dict literal, keeping each value's source text (the `.npy` header keeps
/// the `descr` as written). A literal that is not a dict is an error naming what it is.
pub fn parse_dict_entries(text: &str) -> Result<Vec<DictEntry<'_>>, ParseError> {
    parse_dict_entries_with(text, true)
}

/// [`parse_dict_entries`], saying whether an int may carry Python 2's long suffix `L` (`3L`).
/// numpy strips it (`_filter_header`: an `L` name token right after a number; upper case
/// only, as Python 2 wrote it) from format 1.0 and 2.0 headers, never from 3.0 headers.
pub fn parse_dict_entries_with(text: &str, python2_long: bool) -> Result<Vec<DictEntry<'_>>, ParseError> {
    let mut parser = Parser::new(text);
    parser.python2_long = python2_long;
    parser.skip_blank()?;
    let start = parser.pos;
    if parser.peek() != Some(b'{') {
        let value = parser.value(0)?;
        parser.end()?;
        return Err(ParseError {
            offset: start,
            message: format!("expected a dict, found {}", value.literal.kind_name()),
        });
    }
    let entries = parser.dict_entries(0)?;
    parser.end()?;
    Ok(entries
        .into_iter()
        .map(|(key, value)| DictEntry {
            key: key.literal,
            value: value.literal,
            value_source: &text[value.span],
        })
        .collect())
}

impl Literal {
    /// A short English name of the literal's type, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Literal::Str(_) => "a string",
            Literal::Int(_) => "an int",
            Literal::Float(_) => "a float",
            Literal::Bool(_) => "a bool",
            Literal::None => "None",
            Literal::Tuple(_) => "a tuple",
            Literal::List(_) => "a list",
            Literal::Dict(_) => "a dict",
        }
    }
}

impl Literal {
    /// The repr cut to at most `max_chars` chars (with `...` when cut), for error messages;
    /// stops formatting at the limit, so a huge literal costs no more than a small one.
    pub fn repr_truncated(&self, max_chars: usize) -> String {
        let mut out = BoundedString { text: String::new(), chars_left: max_chars };
        use fmt::Write as _;
        match write!(out, "{self}") {
            Ok(()) => out.text,
            Err(_) => out.text + "...",
        }
    }
}

/// A `fmt::Write` that refuses (with an error that stops the formatting) past a char budget.
struct BoundedString {
    text: String,
    chars_left: usize,
}

impl fmt::Write for BoundedString {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.chars_left == 0 {
                return Err(fmt::Error);
            }
            self.text.push(c);
            self.chars_left -= 1;
        }
        Ok(())
    }
}

/// Python's `repr`: `'<f4'`, `(3,)`, `[('a', '<i4')]`, `{'k': True}`.
impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => f.write_str(&repr_str(s)),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write_float(f, *x),
            Literal::Bool(true) => f.write_str("True"),
            Literal::Bool(false) => f.write_str("False"),
            Literal::None => f.write_str("None"),
            Literal::Tuple(items) => {
                f.write_str("(")?;
                write_items(f, items)?;
                f.write_str(if items.len() == 1 { ",)" } else { ")" })
            }
            Literal::List(items) => {
                f.write_str("[")?;
                write_items(f, items)?;
                f.write_str("]")
            }
            Literal::Dict(entries) => {
                f.write_str("{")?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key}: {value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

fn write_items(f: &mut fmt::Formatter<'_>, items: &[Literal]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

fn write_float(f: &mut fmt::Formatter<'_>, x: f64) -> fmt::Result {
    if x.is_nan() {
        f.write_str("nan")
    } else if x.is_infinite() {
        f.write_str(if x > 0.0 { "inf" } else { "-inf" })
    } else if x.fract() == 0.0 && x.abs() < 1e16 {
        write!(f, "{x:.1}")
    } else {
        write!(f, "{x}")
    }
}

/// A string the way Python's `repr` writes it: single quotes unless the text contains a single
/// quote and no double quote; backslash escapes for the quote, `\\`, `\t`, `\n`, `\r` and
/// non-printable characters (`\xNN`, `\uNNNN`, `\UNNNNNNNN`).
pub fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_python_printable(c) => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(quote);
    out
}

/// An approximation of Python's `str.isprintable` (which `repr` uses): control characters,
/// separators other than the space, and the common format characters are not printable.
fn is_python_printable(c: char) -> bool {
    !(c.is_control()
        || matches!(c,
            '\u{a0}' | '\u{ad}' | '\u{1680}' | '\u{2000}'..='\u{200f}' | '\u{2028}'..='\u{202f}'
            | '\u{205f}'..='\u{2064}' | '\u{3000}' | '\u{feff}'
            | '\u{e000}'..='\u{f8ff}' | '\u{fff9}'..='\u{fffb}'))
}

/// A parsed value with the byte range of its source text.
struct Spanned {
    literal: Literal,
    span: Range<usize>,
}

/// A recursive-descent parser over the bytes of the text; `pos` is always on a char boundary
/// outside string bodies (every token boundary is an ASCII byte).
struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Whether `3L` is an int (see [`parse_dict_entries_with`]).
    python2_long: bool,
    /// Values parsed so far, against [`MAX_VALUES`].
    values: usize,
}

type Parsed<T> = Result<T, ParseError>;

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser { text, bytes: text.as_bytes(), pos: 0, python2_long: true, values: 0 }
    }

    fn error<T>(&self, offset: usize, message: impl Into<String>) -> Parsed<T> {
        Err(ParseError { offset, message: message.into() })
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    /// The char at `pos`, described for an error message.
    fn describe_here(&self) -> String {
        match self.text.get(self.pos..).and_then(|rest| rest.chars().next()) {
            Some(c) => format!("{:?}", c),
            None => "the end of the text".to_string(),
        }
    }

    /// Skip whitespace, `#` comments and backslash-newline continuations.
    fn skip_blank(&mut self) -> Parsed<()> {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => self.pos += 1,
                b'#' => {
                    while let Some(b) = self.peek() {
                        if b == b'\n' || b == b'\r' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                b'\\' if matches!(self.peek_at(1), Some(b'\n' | b'\r')) => {
                    self.pos += 2;
                    if self.bytes.get(self.pos - 1) == Some(&b'\r') && self.peek() == Some(b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// After the top-level value: only blanks may follow.
    fn end(&mut self) -> Parsed<()> {
        self.skip_blank()?;
        if self.pos < self.bytes.len() {
            return self.error(self.pos, format!("unexpected {} after the literal", self.describe_here()));
        }
        Ok(())
    }

    fn expect(&mut self, byte: u8) -> Parsed<()> {
        self.skip_blank()?;
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            self.error(self.pos, format!("expected '{}', found {}", byte as char, self.describe_here()))
        }
    }

    /// One value at nesting `depth` (0 for the top level).
    fn value(&mut self, depth: usize) -> Parsed<Spanned> {
        self.skip_blank()?;
        let start = self.pos;
        self.values += 1;
        if self.values > MAX_VALUES {
            return self.error(start, format!("more than {MAX_VALUES} values"));
        }
        let literal = match self.peek() {
            None => return self.error(self.pos, "expected a value, found the end of the text"),
            Some(b'{') => {
                let entries = self.dict_entries(depth)?;
                Literal::Dict(entries.into_iter().map(|(k, v)| (k.literal, v.literal)).collect())
            }
            Some(b'[') => Literal::List(self.sequence(depth, b'[', b']')?.0),
            Some(b'(') => self.parenthesized(depth)?,
            Some(b'\'' | b'"') => Literal::Str(self.strings()?),
            Some(b'-' | b'+') => self.signed_number()?,
            Some(b'0'..=b'9' | b'.') => self.number(false)?,
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => self.word()?,
            Some(_) => {
                return self.error(self.pos, format!("expected a value, found {}", self.describe_here()))
            }
        };
        Ok(Spanned { literal, span: start..self.pos })
    }

    /// Enter one more level of nesting, refusing to go past [`MAX_DEPTH`].
    fn nested(&self, depth: usize) -> Parsed<usize> {
        if depth >= MAX_DEPTH {
            return self.error(self.pos, format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        Ok(depth + 1)
    }

    /// `{key: value, ...}` with an optional trailing comma; `pos` is on the `{`.
    fn dict_entries(&mut self, depth: usize) -> Parsed<Vec<(Spanned, Spanned)>> {
        let inner = self.nested(depth)?;
        self.pos += 1;
        let mut entries = Vec::new();
        loop {
            self.skip_blank()?;
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(entries);
            }
            let key = self.value(inner)?;
            self.expect(b':')?;
            let value = self.value(inner)?;
            entries.push((key, value));
            self.skip_blank()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => {
                    return self.error(
                        self.pos,
                        format!("expected ',' or '}}' in a dict, found {}", self.describe_here()),
                    )
                }
            }
        }
    }

    /// Items between `open` and `close`, comma-separated, with an optional trailing comma.
    /// Returns the items and whether any comma was seen (which makes `(x,)` a tuple).
    fn sequence(&mut self, depth: usize, open: u8, close: u8) -> Parsed<(Vec<Literal>, bool)> {
        let inner = self.nested(depth)?;
        debug_assert_eq!(self.peek(), Some(open));
        self.pos += 1;
        let mut items = Vec::new();
        let mut saw_comma = false;
        loop {
            self.skip_blank()?;
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok((items, saw_comma));
            }
            items.push(self.value(inner)?.literal);
            self.skip_blank()?;
            match self.peek() {
                Some(b',') => {
                    saw_comma = true;
                    self.pos += 1;
                }
                Some(b) if b == close => {}
                _ => {
                    return self.error(
                        self.pos,
                        format!("expected ',' or '{}', found {}", close as char, self.describe_here()),
                    )
                }
            }
        }
    }

    /// `()`, `(x,)`, `(x, y)` are tuples; `(x)` is just `x`.
    fn parenthesized(&mut self, depth: usize) -> Parsed<Literal> {
        let (mut items, saw_comma) = self.sequence(depth, b'(', b')')?;
        Ok(match items.pop() {
            Some(only) if items.is_empty() && !saw_comma => only,
            Some(last) => {
                items.push(last);
                Literal::Tuple(items)
            }
            None => Literal::Tuple(items),
        })
    }

    /// `True`, `False`, `None`, or a prefixed string (`u'...'`, `r'...'`).
    fn word(&mut self) -> Parsed<Literal> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_') {
            self.pos += 1;
        }
        let word = &self.text[start..self.pos];
        if matches!(self.peek(), Some(b'\'' | b'"')) && is_string_prefix(word) {
            self.pos = start;
            return Ok(Literal::Str(self.strings()?));
        }
        match word {
            "True" => Ok(Literal::Bool(true)),
            "False" => Ok(Literal::Bool(false)),
            "None" => Ok(Literal::None),
            _ => self.error(start, format!("expected a value, found the name {:?}", truncated(word))),
        }
    }

    /// One string literal, or several adjacent ones, concatenated as Python does.
    fn strings(&mut self) -> Parsed<String> {
        let mut out = self.one_string()?;
        loop {
            let before = self.pos;
            self.skip_blank()?;
            let next_is_string = match self.peek() {
                Some(b'\'' | b'"') => true,
                Some(b) if b.is_ascii_alphabetic() => {
                    let word_len =
                        self.bytes[self.pos..].iter().take_while(|b| b.is_ascii_alphabetic()).count();
                    let word = &self.text[self.pos..self.pos + word_len];
                    is_string_prefix(word) && matches!(self.peek_at(word_len), Some(b'\'' | b'"'))
                }
                _ => false,
            };
            if !next_is_string {
                self.pos = before;
                return Ok(out);
            }
            out.push_str(&self.one_string()?);
        }
    }

    /// `[prefix]'...'` or `[prefix]"..."`, with escapes decoded (not for raw strings).
    fn one_string(&mut self) -> Parsed<String> {
        let start = self.pos;
        let mut raw = false;
        while let Some(b) = self.peek().filter(u8::is_ascii_alphabetic) {
            match b {
                b'r' | b'R' => raw = true,
                b'u' | b'U' => {}
                _ => return self.error(self.pos, format!("unsupported string prefix {:?}", b as char)),
            }
            self.pos += 1;
        }
        let Some(quote @ (b'\'' | b'"')) = self.peek() else {
            return self.error(self.pos, "expected a string");
        };
        // A triple-quoted string may span lines; `ast.literal_eval` takes it too.
        let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let Some(c) = self.text[self.pos..].chars().next() else {
                return self.error(start, "string is not closed");
            };
            match c {
                '\n' | '\r' if !triple => {
                    return self.error(start, "string is not closed before the end of the line")
                }
                '\\' if raw => {
                    // A raw string keeps the backslash, but `\'` still does not close it.
                    out.push('\\');
                    self.pos += 1;
                    match self.text[self.pos..].chars().next() {
                        Some(next) if next != '\n' && next != '\r' => {
                            out.push(next);
                            self.pos += next.len_utf8();
                        }
                        _ => {}
                    }
                }
                '\\' => self.escape(&mut out)?,
                c if c as u32 == quote as u32 && !triple => {
                    self.pos += 1;
                    return Ok(out);
                }
                c if c as u32 == quote as u32 && self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote) => {
                    self.pos += 3;
                    return Ok(out);
                }
                c => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    /// One backslash escape; `pos` is on the backslash.
    fn escape(&mut self, out: &mut String) -> Parsed<()> {
        let start = self.pos;
        self.pos += 1;
        let Some(c) = self.text[self.pos..].chars().next() else {
            return self.error(start, "string is not closed");
        };
        self.pos += c.len_utf8();
        let simple = match c {
            '\n' => Some(None),
            '\r' => {
                if self.peek() == Some(b'\n') {
                    self.pos += 1;
                }
                Some(None)
            }
            '\\' => Some(Some('\\')),
            '\'' => Some(Some('\'')),
            '"' => Some(Some('"')),
            'a' => Some(Some('\x07')),
            'b' => Some(Some('\x08')),
            'f' => Some(Some('\x0c')),
            'n' => Some(Some('\n')),
            'r' => Some(Some('\r')),
            't' => Some(Some('\t')),
            'v' => Some(Some('\x0b')),
            _ => None,
        };
        if let Some(decoded) = simple {
            out.extend(decoded);
            return Ok(());
        }
        let code = match c {
            'x' => self.hex_digits(start, 2)?,
            'u' => self.hex_digits(start, 4)?,
            'U' => self.hex_digits(start, 8)?,
            '0'..='7' => {
                let mut value = c as u32 - '0' as u32;
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                value
            }
            'N' => return self.error(start, "named escapes (\\N{...}) are not supported"),
            other => {
                // Python keeps unknown escapes as they are (with a warning).
                out.push('\\');
                out.push(other);
                return Ok(());
            }
        };
        match char::from_u32(code) {
            Some(decoded) => {
                out.push(decoded);
                Ok(())
            }
            None => self.error(start, format!("escape is not a valid code point ({code:#x})")),
        }
    }

    fn hex_digits(&mut self, start: usize, count: usize) -> Parsed<u32> {
        let digits =
            self.text.get(self.pos..self.pos + count).filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(digits) = digits else {
            return self.error(start, format!("escape needs {count} hex digits"));
        };
        self.pos += count;
        u32::from_str_radix(digits, 16).or_else(|_| self.error(start, "escape is not a valid code point"))
    }

    /// `-3`, `+3`, `- 3.5`: one sign, then a number (Python's `literal_eval` allows one).
    fn signed_number(&mut self) -> Parsed<Literal> {
        let negative = self.peek() == Some(b'-');
        self.pos += 1;
        self.skip_blank()?;
        match self.peek() {
            Some(b'0'..=b'9' | b'.') => self.number(negative),
            _ => self
                .error(self.pos, format!("expected a number after the sign, found {}", self.describe_here())),
        }
    }

    /// An int (decimal, `0x`, `0o`, `0b`, `_` separators, Python 2 `L` suffix) or a float.
    fn number(&mut self, negative: bool) -> Parsed<Literal> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
            // An exponent's sign belongs to the number: `1e-3`.
            let b = self.bytes[self.pos];
            self.pos += 1;
            if matches!(b, b'e' | b'E')
                && matches!(self.peek(), Some(b'+' | b'-'))
                && !self.is_radix_prefixed(start)
            {
                self.pos += 1;
            }
        }
        let token = &self.text[start..self.pos];
        let is_float =
            !self.is_radix_prefixed(start) && token.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
        if is_float {
            return self.float(start, token, negative);
        }
        let int_digits = match token.strip_suffix('L') {
            Some(digits) if self.python2_long => digits,
            Some(_) => {
                return self.error(
                    start,
                    format!("{token:?}: the Python 2 long suffix L is read only in format 1.0 and 2.0 headers"),
                )
            }
            None => {
                // `_filter_header` works on tokens: `3 L` (spaces between) loses its `L` too.
                if self.python2_long {
                    self.skip_spaced_long_suffix();
                }
                token
            }
        };
        self.int(start, int_digits, negative)
    }

    /// Past spaces or tabs and a lone `L` name after a number, if that is what follows.
    fn skip_spaced_long_suffix(&mut self) {
        let mut at = self.pos;
        while matches!(self.bytes.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        let lone_l = at > self.pos
            && self.bytes.get(at) == Some(&b'L')
            && !matches!(self.bytes.get(at + 1), Some(b) if b.is_ascii_alphanumeric() || *b == b'_');
        if lone_l {
            self.pos = at + 1;
        }
    }

    fn is_radix_prefixed(&self, start: usize) -> bool {
        self.bytes.get(start) == Some(&b'0')
            && matches!(self.bytes.get(start + 1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B'))
    }

    fn int(&self, start: usize, token: &str, negative: bool) -> Parsed<Literal> {
        let (radix, digits) = match token.get(..2) {
            Some("0x" | "0X") => (16, &token[2..]),
            Some("0o" | "0O") => (8, &token[2..]),
            Some("0b" | "0B") => (2, &token[2..]),
            _ => (10, token),
        };
        let digits = digits.strip_prefix('_').filter(|_| radix != 10).unwrap_or(digits);
        let well_formed = !digits.is_empty()
            && !digits.starts_with('_')
            && !digits.ends_with('_')
            && !digits.contains("__")
            && digits.bytes().all(|b| b == b'_' || (b as char).is_digit(radix))
            // Python 3 refuses leading zeros in decimal ints, except for zero itself.
            && !(radix == 10 && digits.starts_with('0') && digits.bytes().any(|b| b != b'0' && b != b'_'));
        if !well_formed {
            return self.error(start, format!("invalid number {:?}", truncated(token)));
        }
        let mut magnitude: u128 = 0;
        for b in digits.bytes().filter(|&b| b != b'_') {
            let digit = (b as char).to_digit(radix).unwrap_or(0);
            magnitude =
                match magnitude.checked_mul(u128::from(radix)).and_then(|m| m.checked_add(u128::from(digit)))
                {
                    Some(m) => m,
                    None => return self.error(start, format!("integer {} is too large", truncated(token))),
                };
        }
        let value =
            if negative { 0i128.checked_sub_unsigned(magnitude) } else { i128::try_from(magnitude).ok() };
        match value {
            Some(v) => Ok(Literal::Int(v)),
            None => self.error(start, format!("integer {} is too large", truncated(token))),
        }
    }

    fn float(&self, start: usize, token: &str, negative: bool) -> Parsed<Literal> {
        let well_formed = !token.contains("__")
            && !token.starts_with('_')
            && token
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
            && token.bytes().filter(|&b| b == b'.').count() <= 1;
        let cleaned: String = token.chars().filter(|&c| c != '_').collect();
        match cleaned.parse::<f64>() {
            Ok(x) if well_formed => Ok(Literal::Float(if negative { -x } else { x })),
            _ => self.error(start, format!("invalid number {:?}", truncated(token))),
        }
    }
}

fn is_string_prefix(word: &str) -> bool {
    matches!(word, "u" | "U" | "r" | "R")
}

/// At most 40 chars of `s`, for quoting a token in an error message.
fn truncated(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Literal {
        Literal::Str(text.to_string())
    }

    fn ok(text: &str) -> Literal {
        match parse(text) {
            Ok(value) => value,
            Err(e) => panic!("{text:?} should parse: {e}"),
        }
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(value) => panic!("{text:?} should not parse, got {value:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn scalars() {
        assert_eq!(ok("True"), Literal::Bool(true));
        assert_eq!(ok("False"), Literal::Bool(false));
        assert_eq!(ok("None"), Literal::None);
        assert_eq!(ok("0"), Literal::Int(0));
        assert_eq!(ok("00"), Literal::Int(0));
        assert_eq!(ok("42"), Literal::Int(42));
        assert_eq!(ok("-42"), Literal::Int(-42));
        assert_eq!(ok("- 42"), Literal::Int(-42));
        assert_eq!(ok("+7"), Literal::Int(7));
        assert_eq!(ok("1_000"), Literal::Int(1000));
        assert_eq!(ok("0x1F"), Literal::Int(31));
        assert_eq!(ok("0o17"), Literal::Int(15));
        assert_eq!(ok("0b101"), Literal::Int(5));
        assert_eq!(ok("1.5"), Literal::Float(1.5));
        assert_eq!(ok("-2.5e3"), Literal::Float(-2500.0));
        assert_eq!(ok(".5"), Literal::Float(0.5));
        assert_eq!(ok("5."), Literal::Float(5.0));
        assert_eq!(ok("1e-3"), Literal::Float(0.001));
    }

    #[test]
    fn python2_long_suffix() {
        assert_eq!(ok("3L"), Literal::Int(3));
        // numpy's `_filter_header` drops only an upper-case `L` name token after a number.
        err("3l");
        assert_eq!(ok("(3 L, 4\tL)"), Literal::Tuple(vec![Literal::Int(3), Literal::Int(4)]));
        err("(3 Lx,)");
        assert_eq!(ok("(3L, 4L)"), Literal::Tuple(vec![Literal::Int(3), Literal::Int(4)]));
        err("3.5L");
        err("3LL");
    }

    #[test]
    fn int_limits() {
        assert_eq!(ok("170141183460469231731687303715884105727"), Literal::Int(i128::MAX));
        assert_eq!(ok("-170141183460469231731687303715884105728"), Literal::Int(i128::MIN));
        let e = err("170141183460469231731687303715884105728");
        assert!(e.contains("too large"), "{e}");
        let e = err(&"9".repeat(5000));
        assert!(e.contains("too large") && e.len() < 200, "{e}");
    }

    #[test]
    fn malformed_numbers() {
        for text in ["01", "1__0", "1_", "0x", "1.2.3", "3abc", "--3", "-", "1e", "0xG", "1j"] {
            let e = err(text);
            assert!(e.starts_with("at byte "), "{text}: {e}");
        }
    }

    #[test]
    fn strings_in_both_quote_styles() {
        assert_eq!(ok("'<f4'"), s("<f4"));
        assert_eq!(ok("\"<f4\""), s("<f4"));
        assert_eq!(ok("\"it's\""), s("it's"));
        assert_eq!(ok("'say \"hi\"'"), s("say \"hi\""));
        assert_eq!(ok("u'name'"), s("name"));
        assert_eq!(ok("''"), s(""));
        assert_eq!(ok("'a' \"b\" u'c'"), s("abc"));
    }

    #[test]
    fn triple_quoted_strings() {
        // ast.literal_eval("'''<f4'''") == '<f4', and they may hold newlines and lone quotes.
        assert_eq!(ok("'''<f4'''"), s("<f4"));
        assert_eq!(ok("\"\"\"a\n'b'\"\"\""), s("a\n'b'"));
        assert_eq!(ok("'''it''s'''"), s("it''s"));
        assert!(parse("'''never closed''").is_err());
    }

    #[test]
    fn string_escapes() {
        assert_eq!(ok(r"'a\nb\tc'"), s("a\nb\tc"));
        assert_eq!(ok(r#"'\'\"\\'"#), s("'\"\\"));
        assert_eq!(ok(r"'\x41\xe9'"), s("A\u{e9}"));
        assert_eq!(ok(r"'\u00fc\u4e2d'"), s("\u{fc}\u{4e2d}"));
        assert_eq!(ok(r"'\U0001F600'"), s("\u{1F600}"));
        assert_eq!(ok(r"'\101\0'"), s("A\0"));
        assert_eq!(ok(r"'\a\b\f\v\r'"), s("\x07\x08\x0c\x0b\r"));
        // Unknown escapes stay as written, as in Python.
        assert_eq!(ok(r"'\d'"), s("\\d"));
        assert_eq!(ok("'a\\\nb'"), s("ab"));
        assert_eq!(ok(r"r'\n'"), s("\\n"));
        assert_eq!(ok(r"r'\''"), s("\\'"));
        assert_eq!(ok("'ü中'"), s("ü中"));
    }

    #[test]
    fn bad_strings() {
        for text in [
            r"'\x4'",
            r"'\u12'",
            r"'\U00110000'",
            r"'\ud800'",
            "'abc",
            "'ab\ncd'",
            "b'x'",
            r"'\N{DASH}'",
            "f'x'",
        ] {
            let e = err(text);
            assert!(e.starts_with("at byte "), "{text}: {e}");
        }
    }

    #[test]
    fn tuples() {
        assert_eq!(ok("()"), Literal::Tuple(vec![]));
        assert_eq!(ok("(3,)"), Literal::Tuple(vec![Literal::Int(3)]));
        assert_eq!(ok("(3)"), Literal::Int(3));
        assert_eq!(ok("(3, 4)"), Literal::Tuple(vec![Literal::Int(3), Literal::Int(4)]));
        assert_eq!(ok("(3, 4, )"), Literal::Tuple(vec![Literal::Int(3), Literal::Int(4)]));
        assert_eq!(ok("( \n 3 ,\n 4 ,\n )"), Literal::Tuple(vec![Literal::Int(3), Literal::Int(4)]));
        err("(,)");
        err("(3,,)");
        err("(3 4)");
        err("(3,");
    }

    #[test]
    fn lists_and_dicts() {
        assert_eq!(ok("[]"), Literal::List(vec![]));
        assert_eq!(
            ok("[1, [2], ]"),
            Literal::List(vec![Literal::Int(1), Literal::List(vec![Literal::Int(2)])])
        );
        assert_eq!(ok("{}"), Literal::Dict(vec![]));
        assert_eq!(
            ok("{'a': 1, \"b\": (2,), }"),
            Literal::Dict(vec![(s("a"), Literal::Int(1)), (s("b"), Literal::Tuple(vec![Literal::Int(2)]))])
        );
        // Duplicates are kept for the caller to judge.
        assert_eq!(
            ok("{'a': 1, 'a': 2}"),
            Literal::Dict(vec![(s("a"), Literal::Int(1)), (s("a"), Literal::Int(2))])
        );
        err("{'a' 1}");
        err("{'a': 1 'b': 2}");
        err("{1, 2}");
        err("[1 2]");
        err("{'a': }");
    }

    #[test]
    fn whitespace_comments_and_continuations() {
        assert_eq!(ok(" \t\r\n{ 'a' :\n\t1 } \n  \x0c"), Literal::Dict(vec![(s("a"), Literal::Int(1))]));
        assert_eq!(ok("{'a': 1, # a comment\n}"), Literal::Dict(vec![(s("a"), Literal::Int(1))]));
        assert_eq!(ok("{'a': \\\n 1}"), Literal::Dict(vec![(s("a"), Literal::Int(1))]));
    }

    #[test]
    fn garbage_is_refused_with_an_offset() {
        assert_eq!(err(""), "at byte 0: expected a value, found the end of the text");
        assert_eq!(err("  {'a': 1} x"), "at byte 11: unexpected 'x' after the literal");
        assert_eq!(err("{'a': foo}"), "at byte 6: expected a value, found the name \"foo\"");
        assert_eq!(err("Truex"), "at byte 0: expected a value, found the name \"Truex\"");
        assert_eq!(err("{'a': 1}\0"), "at byte 8: unexpected '\\0' after the literal");
        err("{'a': 1}}");
        err("__import__('os')");
        err("[1, 2][0]");
        err("1 + 2");
    }

    #[test]
    fn errors_are_one_line() {
        let e = err("{'a':\n\n  @}");
        assert_eq!(e, "at byte 9: expected a value, found '@'");
        let e = err("{'a':\n\n  \n");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn nesting_is_capped() {
        let ok_depth = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        ok(&ok_depth);
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(err(&too_deep).contains("nesting deeper than 64"));
        // A bomb that would overflow the stack of a naive parser, in every bracket kind.
        for open in ["[", "(", "{'a': "] {
            let bomb = open.repeat(1_000_000);
            assert!(err(&bomb).contains("nesting deeper"), "{open}");
        }
    }

    #[test]
    fn dict_entries_keep_value_source() {
        let text = "{'descr': [('a', '<i4'),\n ('b', '<f8')], 'shape': (3,), }";
        let entries = parse_dict_entries(text).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].key, s("descr"));
        assert_eq!(entries[0].value_source, "[('a', '<i4'),\n ('b', '<f8')]");
        assert_eq!(entries[1].value_source, "(3,)");
        let e = parse_dict_entries("  [1]").unwrap_err();
        assert_eq!(e.to_string(), "at byte 2: expected a dict, found a list");
    }

    #[test]
    fn repr_matches_python() {
        // Expected strings printed by Python's repr().
        assert_eq!(repr_str("<f4"), "'<f4'");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("it's \"x\""), "'it\\'s \"x\"'");
        assert_eq!(repr_str("a\\b\n\t\r"), "'a\\\\b\\n\\t\\r'");
        assert_eq!(repr_str("\x00\x7f\u{a0}é中\u{200b}"), "'\\x00\\x7f\\xa0é中\\u200b'");
        assert_eq!(
            ok("[('a', '<i4'), (('T', 'n'), (3,), ()), {'k': None}, True, -1, 2.5]").to_string(),
            "[('a', '<i4'), (('T', 'n'), (3,), ()), {'k': None}, True, -1, 2.5]"
        );
    }

    #[test]
    fn truncated_repr() {
        let long = Literal::List((0..1_000_000).map(Literal::Int).collect());
        assert_eq!(long.repr_truncated(12), "[0, 1, 2, 3,...");
        assert_eq!(ok("(1, 2)").repr_truncated(6), "(1, 2)");
        assert_eq!(ok("'üü'").repr_truncated(3), "'üü...");
    }

    #[test]
    fn repr_round_trips() {
        for text in ["a", "it's", "\"q\"", "'\"", "\\", "\n\u{1}\u{10ffff}", "ü中😀"] {
            assert_eq!(parse(&repr_str(text)).unwrap(), s(text), "{text:?}");
        }
    }
}
