//! The `#[retry]` attribute. Use it through `retry_runtime::retry`, which
//! documents the arguments; this crate holds only the code generation.
//!
//! The attribute is parsed into a typed model (`args.rs`, `wait.rs`,
//! `duration.rs`, `item.rs`), checked (`valid.rs`), and only then expanded
//! (`expand.rs`). Every error of one attribute is reported in one compile,
//! beside the function, which is emitted unchanged.

mod args;
mod ctxt;
mod duration;
mod expand;
mod item;
mod kw;
mod valid;
mod wait;

use proc_macro::TokenStream;

/// Retries the function: see `retry_runtime::retry`.
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::retry(args.into(), item.into()).into()
}
