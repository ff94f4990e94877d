//! A parser for the Python literals that `.npy` headers are made of (what `ast.literal_eval`
//! accepts and numpy writes): dicts, tuples, lists, strings, integers, `True`/`False`/`None`.
//! It never evaluates anything, and caps nesting depth so hostile headers cannot overflow the stack.

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

/// Parse one literal, allowing surrounding whitespace. Errors are one line, with the byte offset.
pub fn parse(text: &str) -> Result<Literal, String> {
    let _ = text;
    todo!("H1")
}
