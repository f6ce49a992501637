//! The YAML writer of every YAML target (Kubernetes, compose, Prometheus, Alertmanager,
//! Grafana): [`yaml`].

use std::fmt::{self, Write as _};

use serde::ser::{self, Serialize};

use crate::ir::is_hidden;

/// YAML for every YAML target: serde-saphyr's YAML 1.1-safe quoting, long strings kept
/// on one line (folded `>-` scalars are valid but make generated commands hard to read), and
/// invisible characters escaped (see [`escape_hidden`]).
///
/// serde-saphyr was most of the time of a Kubernetes build (its quoting checks walk every
/// scalar several times, char by char). Documents made of block maps, block sequences and
/// scalars that are plainly safe are written here directly, with serde-saphyr's layout; a
/// scalar that needs quoting is quoted by serde-saphyr alone; anything else (a key that is
/// not plainly safe, block scalars, a sequence in a sequence, a hidden character, a type
/// this writer does not know) makes the whole document go through serde-saphyr. The two are
/// compared on every generated file and on hard scalars by `tests/yaml_writer.rs`.
pub fn yaml<T: serde::Serialize>(value: &T) -> String {
    direct(value).unwrap_or_else(|| {
        if let Ok(mut types) = LEFT_TO_SAPHYR.lock() {
            types.push(std::any::type_name::<T>());
        }
        saphyr(value)
    })
}

/// The types of the documents [`yaml`] left to serde-saphyr, in this process, for the test
/// that checks the emitters' documents take the direct way (the targets run on several
/// threads). Only a document that is not written directly is pushed: rare.
static LEFT_TO_SAPHYR: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

/// The types of the documents [`yaml`] left to serde-saphyr since the last call, which
/// empties the list.
#[doc(hidden)]
pub fn left_to_saphyr() -> Vec<&'static str> {
    LEFT_TO_SAPHYR.lock().map(|mut types| std::mem::take(&mut *types)).unwrap_or_default()
}

/// The document as this writer writes it, or `None` where it leaves it to serde-saphyr.
#[doc(hidden)]
pub fn direct<T: serde::Serialize>(value: &T) -> Option<String> {
    let mut out = String::with_capacity(4096);
    value.serialize(Writer { out: &mut out, at: At::Top }).ok().map(|()| out)
}

/// The document through serde-saphyr alone (the oracle of the tests, and the way for what
/// [`yaml`] does not write itself).
#[doc(hidden)]
pub fn saphyr<T: serde::Serialize>(value: &T) -> String {
    escape_hidden(&serde_saphyr::to_string_with_options(value, options()).unwrap_or_default())
}

fn options() -> serde_saphyr::SerializerOptions {
    serde_saphyr::ser_options! { prefer_block_scalars: false }
}

/// Bidirectional controls and zero-width characters are printable to YAML, so serde-saphyr
/// writes them raw, where an editor reorders or hides the text around them. Each scalar
/// holding one is rewritten as a double-quoted scalar with `\uXXXX` escapes. Without block
/// scalars every scalar of the serializer's output sits on one line, as `- ` items, a
/// `key: value` pair or a lone value, each plain, single- or double-quoted.
fn escape_hidden(yaml: &str) -> String {
    if !yaml.chars().any(is_hidden) {
        return yaml.to_string();
    }
    let mut out = String::with_capacity(yaml.len() + 64);
    for line in yaml.split_inclusive('\n') {
        if !line.chars().any(is_hidden) {
            out.push_str(line);
            continue;
        }
        let (body, nl) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
        let mut rest = body;
        loop {
            let indent = rest.len() - rest.trim_start_matches(' ').len();
            out.push_str(&rest[..indent]);
            rest = &rest[indent..];
            if rest == "-" || rest.starts_with("- ") {
                out.push('-');
                rest = &rest[1..];
                continue;
            }
            let (token, after) = yaml_scalar(rest);
            out.push_str(&if token.chars().any(is_hidden) { requote(token) } else { token.to_string() });
            rest = after;
            // A key: its value follows on the same line.
            if let Some(value) = rest.strip_prefix(": ") {
                out.push_str(": ");
                rest = value;
                let (token, after) = yaml_scalar(rest);
                out.push_str(&if token.chars().any(is_hidden) { requote(token) } else { token.to_string() });
                rest = after;
            }
            out.push_str(rest);
            break;
        }
        out.push_str(nl);
    }
    out
}

/// The scalar at the start of `s` (a key or a value) and what follows it.
fn yaml_scalar(s: &str) -> (&str, &str) {
    let end = match s.as_bytes().first() {
        Some(b'"') => {
            let mut escaped = false;
            s.char_indices().skip(1).find(|&(_, c)| {
                let close = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                close
            })
        }
        .map_or(s.len(), |(i, _)| i + 1),
        Some(b'\'') => {
            let b = s.as_bytes();
            let mut i = 1;
            while i < b.len() && !(b[i] == b'\'' && b.get(i + 1) != Some(&b'\'')) {
                i += if b[i] == b'\'' { 2 } else { 1 };
            }
            (i + 1).min(s.len())
        }
        // A plain key ends at `: `; a plain value runs to the end of the line.
        _ => s.find(": ").or_else(|| s.strip_suffix(':').map(str::len)).unwrap_or(s.len()),
    };
    s.split_at(end)
}

/// A scalar as written (plain, `'single'` or `"double"`) as a double-quoted scalar with
/// its invisible characters escaped.
fn requote(token: &str) -> String {
    let mut out = String::from("\"");
    let hex = |c: char, out: &mut String| out.push_str(&format!("\\u{:04X}", c as u32));
    if let Some(inner) = token.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        for c in inner.chars() {
            if is_hidden(c) {
                hex(c, &mut out);
            } else {
                out.push(c);
            }
        }
    } else {
        let value = match token.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
            Some(inner) => inner.replace("''", "'"),
            None => token.to_string(),
        };
        for c in value.chars() {
            match c {
                '\\' | '"' => {
                    out.push('\\');
                    out.push(c);
                }
                c if is_hidden(c) => hex(c, &mut out),
                c => out.push(c),
            }
        }
    }
    out.push('"');
    out
}

/// Where a value starts: at the top of the document, after `key:`, or after `- `. The
/// number is the column of that key or dash.
#[derive(Clone, Copy)]
enum At {
    Top,
    Key(usize),
    Dash(usize),
}

/// Something the direct writer leaves to serde-saphyr: the whole document goes there.
#[derive(Debug)]
struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("left to serde-saphyr")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unsupported
    }
}

type Result<T = ()> = std::result::Result<T, Unsupported>;

fn spaces(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A string serde-saphyr writes as a plain value in a block mapping or sequence (YAML 1.1
/// rules: `is_plain_value_safe` with `yaml_12: false`), decided for the common case only:
/// printable ASCII starting with a letter or `/` (never a number, a timestamp, `~`, an
/// indicator or a document marker), no `: `, ` #` or `:`/space at the end, and not a short
/// word (`yes`, `off`, `null`, `true`…). Anything else is quoted by serde-saphyr, which
/// may still write it plain.
fn plain_value(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&first) = b.first() else { return false };
    if !(first.is_ascii_alphabetic() || first == b'/') {
        return false;
    }
    if is_word(s) {
        return false;
    }
    if matches!(b[b.len() - 1], b' ' | b':') {
        return false;
    }
    let mut prev = first;
    for &c in &b[1..] {
        if !(0x20..0x7f).contains(&c) || (prev == b':' && c == b' ') || (prev == b' ' && c == b'#') {
            return false;
        }
        prev = c;
    }
    true
}

/// The words a YAML 1.1 reader takes for a boolean, a null or a float, in any case.
fn is_word(s: &str) -> bool {
    s.len() <= 5
        && ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf"]
            .iter()
            .any(|w| s.eq_ignore_ascii_case(w))
}

/// A key serde-saphyr writes plain (`is_plain_safe` and the flow-safe value rule), for the
/// common case: a letter, then letters, digits, `-`, `_`, `.`, `/`; not one of YAML's words.
fn plain_key(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&first) = b.first() else { return false };
    first.is_ascii_alphabetic()
        && b.len() <= 128
        && !is_word(s)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'))
}

/// A scalar as serde-saphyr writes it alone, which is how it writes it as a value: a string
/// it quotes (or writes plain after its own checks), a float in its shortest form.
fn saphyr_scalar<T: Serialize>(v: &T) -> Result<String> {
    let text = serde_saphyr::to_string_with_options(v, options()).map_err(|_| Unsupported)?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    // Only a scalar on one line can be placed after a key or a dash as is.
    if text.contains('\n') {
        return Err(Unsupported);
    }
    Ok(text.to_string())
}

/// `Serializer` methods that write an integer as it is.
macro_rules! integers {
    ($($method:ident: $t:ty),*) => {
        $(fn $method(self, v: $t) -> Result {
            self.scalar(v)
        })*
    };
}

/// `Serializer` methods for the values a key cannot be here.
macro_rules! refused {
    ($($method:ident: $t:ty),*) => {
        $(fn $method(self, _: $t) -> Result {
            Err(Unsupported)
        })*
    };
}

struct Writer<'a> {
    out: &'a mut String,
    at: At,
}

impl Writer<'_> {
    /// A scalar on the line of its key or dash, or alone.
    fn scalar(self, text: impl fmt::Display) -> Result {
        if let At::Key(_) = self.at {
            self.out.push(' ');
        }
        let _ = write!(self.out, "{text}");
        self.out.push('\n');
        Ok(())
    }
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = ser::Impossible<(), Unsupported>;
    type SerializeTupleVariant = ser::Impossible<(), Unsupported>;
    type SerializeMap = Map<'a>;
    type SerializeStruct = Map<'a>;
    type SerializeStructVariant = ser::Impossible<(), Unsupported>;

    fn serialize_bool(self, v: bool) -> Result {
        self.scalar(if v { "true" } else { "false" })
    }
    integers!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64);
    integers!(serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);
    fn serialize_f32(self, v: f32) -> Result {
        self.scalar(saphyr_scalar(&v)?)
    }
    fn serialize_f64(self, v: f64) -> Result {
        self.scalar(saphyr_scalar(&v)?)
    }
    fn serialize_char(self, v: char) -> Result {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result {
        if plain_value(v) {
            self.scalar(v)
        } else if v.chars().any(is_hidden) {
            // Escaped by `escape_hidden`, on serde-saphyr's way.
            Err(Unsupported)
        } else {
            self.scalar(saphyr_scalar(&v)?)
        }
    }
    fn serialize_bytes(self, _: &[u8]) -> Result {
        Err(Unsupported)
    }
    fn serialize_none(self) -> Result {
        self.scalar("null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.scalar("null")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        Err(Unsupported)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, _: &T) -> Result {
        // serde-saphyr's own wrappers (`LitStr`, flow and folded styles) are newtypes.
        Err(Unsupported)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        // An externally tagged variant in a mapping or a sequence: serde-saphyr writes
        // `Variant: value` as a mapping of one entry. (A whole document that is one is laid
        // out otherwise: its sequences are indented.)
        if let At::Top = self.at {
            return Err(Unsupported);
        }
        let mut map = self.serialize_map(Some(1))?;
        map.key(variant)?;
        map.value(value)?;
        map.finish()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Seq<'a>> {
        let indent = match self.at {
            At::Top => 0,
            // serde-saphyr's compact lists: the dashes under the key.
            At::Key(col) => col,
            At::Dash(_) => return Err(Unsupported),
        };
        Ok(Block { out: self.out, at: self.at, indent, count: 0, empty: "[]" })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct> {
        Err(Unsupported)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(Unsupported)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Map<'a>> {
        let indent = match self.at {
            At::Top => 0,
            At::Key(col) | At::Dash(col) => col + 2,
        };
        Ok(Block { out: self.out, at: self.at, indent, count: 0, empty: "{}" })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Map<'a>> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(Unsupported)
    }
}

/// A block sequence (`- item` lines at `indent`) or mapping (`key: value` lines at
/// `indent`): the first item after the key's line break, on the dash's line, or at the top.
struct Block<'a> {
    out: &'a mut String,
    at: At,
    indent: usize,
    count: usize,
    /// What an empty one is written as: `[]` or `{}`.
    empty: &'static str,
}

type Seq<'a> = Block<'a>;
type Map<'a> = Block<'a>;

impl Block<'_> {
    /// Where the next item starts.
    fn next_item(&mut self) {
        match (self.count, self.at) {
            (0, At::Key(_)) => {
                self.out.push('\n');
                spaces(self.out, self.indent);
            }
            (0, _) => {}
            _ => spaces(self.out, self.indent),
        }
        self.count += 1;
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.next_item();
        self.out.push_str("- ");
        value.serialize(Writer { out: self.out, at: At::Dash(self.indent) })
    }

    fn key(&mut self, key: &str) -> Result {
        if !plain_key(key) {
            return Err(Unsupported);
        }
        self.next_item();
        self.out.push_str(key);
        self.out.push(':');
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(Writer { out: self.out, at: At::Key(self.indent) })
    }

    fn finish(self) -> Result {
        if self.count == 0 {
            Writer { out: self.out, at: self.at }.scalar(self.empty)?;
        }
        Ok(())
    }
}

/// A sequence and a tuple are both written as a block sequence.
macro_rules! sequences {
    ($($serialize:path),*) => {
        $(impl $serialize for Seq<'_> {
            type Ok = ();
            type Error = Unsupported;
            fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
                self.element(value)
            }
            fn end(self) -> Result {
                self.finish()
            }
        })*
    };
}

sequences!(ser::SerializeSeq, ser::SerializeTuple);

impl ser::SerializeMap for Map<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        let mut text = String::new();
        key.serialize(KeyText(&mut text))?;
        self.key(&text)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.value(value)
    }
    fn end(self) -> Result {
        self.finish()
    }
}

impl ser::SerializeStruct for Map<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
        self.key(key)?;
        self.value(value)
    }
    fn end(self) -> Result {
        self.finish()
    }
}

/// A map key: a string (checked by `plain_key`) or a unit variant; anything else is left to
/// serde-saphyr.
struct KeyText<'a>(&'a mut String);

impl ser::Serializer for KeyText<'_> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = ser::Impossible<(), Unsupported>;
    type SerializeTuple = ser::Impossible<(), Unsupported>;
    type SerializeTupleStruct = ser::Impossible<(), Unsupported>;
    type SerializeTupleVariant = ser::Impossible<(), Unsupported>;
    type SerializeMap = ser::Impossible<(), Unsupported>;
    type SerializeStruct = ser::Impossible<(), Unsupported>;
    type SerializeStructVariant = ser::Impossible<(), Unsupported>;

    fn serialize_str(self, v: &str) -> Result {
        self.0.push_str(v);
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.serialize_str(variant)
    }
    refused!(serialize_bool: bool, serialize_char: char, serialize_bytes: &[u8]);
    refused!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64);
    refused!(serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);
    refused!(serialize_f32: f32, serialize_f64: f64);
    fn serialize_none(self) -> Result {
        Err(Unsupported)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result {
        Err(Unsupported)
    }
    fn serialize_unit(self) -> Result {
        Err(Unsupported)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        Err(Unsupported)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, _: &T) -> Result {
        Err(Unsupported)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result {
        Err(Unsupported)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(Unsupported)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        Err(Unsupported)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct> {
        Err(Unsupported)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(Unsupported)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        Err(Unsupported)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        Err(Unsupported)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(Unsupported)
    }
}
