//! The generic AST: KDL's structure with spans, and no `kdl` types, so that the reader can
//! be replaced without touching any later stage.

use crate::source::Span;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Int(i128),
    Float(f64),
    Bool(bool),
    Null,
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Null => "#null",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value as it would be written in a target file (strings unquoted).
    pub fn display(&self) -> String {
        match self {
            Value::String(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => "null".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// An argument or a property value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub value: Value,
    /// The type annotation, e.g. `secret` in `(secret)"db-password"`.
    pub ty: Option<Ident>,
    /// The value itself (without a property's key or the annotation).
    pub span: Span,
    /// The whole entry: `key=(ty)value`.
    pub entry_span: Span,
    /// For a string written without escapes (`"…"`, `#"…"#`): where its content starts in
    /// `span`, so that a position inside the value maps to the source. `None` otherwise.
    pub content_offset: Option<usize>,
}

impl Entry {
    pub fn is_secret_ref(&self) -> bool {
        self.ty.as_ref().is_some_and(|t| t.name == "secret")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prop {
    pub key: Ident,
    pub value: Entry,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: Ident,
    pub ty: Option<Ident>,
    pub args: Vec<Entry>,
    pub props: Vec<Prop>,
    pub children: Option<Vec<Node>>,
    /// The whole node, through its closing `}`.
    pub span: Span,
}

impl Node {
    pub fn arg(&self, i: usize) -> Option<&Entry> {
        self.args.get(i)
    }

    pub fn arg_str(&self, i: usize) -> Option<&str> {
        self.args.get(i).and_then(|e| e.value.as_str())
    }

    /// The last property with this key (KDL: the last one wins).
    pub fn prop(&self, key: &str) -> Option<&Entry> {
        self.props.iter().rev().find(|p| p.key.name == key).map(|p| &p.value)
    }

    pub fn prop_str(&self, key: &str) -> Option<&str> {
        self.prop(key).and_then(|e| e.value.as_str())
    }

    pub fn prop_bool(&self, key: &str) -> Option<bool> {
        self.prop(key).and_then(|e| e.value.as_bool())
    }

    pub fn children(&self) -> &[Node] {
        self.children.as_deref().unwrap_or(&[])
    }

    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children().iter().rev().find(|n| n.name.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children().iter().filter(move |n| n.name.name == name)
    }

    /// `node #null` in an environment overlay: remove the base node.
    pub fn is_removal(&self) -> bool {
        matches!(self.args.as_slice(), [e] if e.value == Value::Null)
            && self.props.is_empty()
            && self.children.is_none()
    }

    /// The span of the first argument, or of the name when there is none.
    pub fn head_span(&self) -> Span {
        self.args.first().map(|a| a.span).unwrap_or(self.name.span)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    pub nodes: Vec<Node>,
}
