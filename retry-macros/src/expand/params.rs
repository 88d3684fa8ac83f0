// Each attempt runs the body afresh, so each attempt needs its own copy of
// what the body may consume. Shared references are reused as they are;
// exclusive ones are reborrowed; owned values are cloned once per attempt
// (the clone is spanned at the argument's type, so a type that is not `Clone`
// is reported there).
//
// The clone is taken before the attempt and moved into it: the attempt then
// owns its copy, and an async attempt holds `T` rather than `&T`, so it is
// `Send` when `T` is, as the original body was.
//
// Input:
//     fn f(&mut self, a: &A, b: &mut B, mut c: C, (d, e): (D, E), _: F) -> R { .. }
//
// Output (signature):
//     fn f(&mut self, a: &A, b: &mut B, c: C, __retry_arg4: (D, E), _: F) -> R
//
// Output (each time round the loop, before the attempt):
//     let __retry_clone3 = Clone::clone(&c);
//     let __retry_clone4 = Clone::clone(&__retry_arg4);
//
// Output (first statements of the attempt):
//     let __retry_self = &mut *self;
//     let b = &mut *b;
//     let mut c = __retry_clone3;
//     let (d, e) = __retry_clone4;
//
// `self` by value is cloned the same way; `self` by value or `&mut self`
// becomes `__retry_self` in the body (see `self_rename.rs`), since `self`
// itself cannot be rebound.

use super::Runtime;
use crate::item::{self, Passing, SelfKind};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Pat, PatIdent, ReceiverKind, Signature};

pub(super) struct Rebinds {
    // Statements of the loop, before the attempt.
    pub(super) before: TokenStream,
    // First statements of the attempt.
    pub(super) inside: TokenStream,
    // Whether `self` in the body must become `__retry_self`.
    pub(super) rename_self: bool,
    // Whether an argument is taken by value (and only cloned).
    pub(super) owned: bool,
    // The arguments as the function received them, in order, to hand on to a
    // `fallback` with the same parameters.
    pub(super) forward: Vec<TokenStream>,
}

impl Rebinds {
    // An argument taken by value, bound to `pattern` in each attempt from its `clone`, taken
    // before the attempt into `copy` and moved in.
    fn cloned(&mut self, pattern: &TokenStream, copy: &Ident, clone: &TokenStream) {
        let allow_clone = quote!(#[allow(clippy::clone_on_copy, clippy::redundant_clone)]);
        self.owned = true;
        self.before.extend(quote!(#allow_clone let #copy = #clone;));
        self.inside.extend(quote!(let #pattern = #copy;));
    }
}

pub(super) fn self_ident() -> Ident {
    Ident::new("__retry_self", Span::mixed_site())
}

fn clone_of(rt: &Runtime, value: &Ident, span: Span) -> TokenStream {
    let clone_path = rt.private_at(span);
    let mut value = value.clone();
    value.set_span(span.resolved_at(value.span()));
    quote_spanned!(span=> #clone_path::Clone::clone(&#value))
}

// `name_wildcards`: give `_` parameters a name, so that they can be forwarded.
pub(super) fn rewrite(sig: &mut Signature, rt: &Runtime, name_wildcards: bool) -> Rebinds {
    let mut out = Rebinds {
        before: TokenStream::new(),
        inside: TokenStream::new(),
        rename_self: false,
        owned: false,
        forward: Vec::new(),
    };
    for (i, arg) in sig.inputs.iter_mut().enumerate() {
        let pt = match arg {
            FnArg::Receiver(receiver) => {
                let self_token = Ident::new("self", receiver.self_token.span);
                out.forward.push(quote!(#self_token));
                let renamed = self_ident();
                // `None` was rejected by validation.
                match item::self_kind(receiver) {
                    None | Some(SelfKind::Ref) => {}
                    Some(SelfKind::RefMut) => {
                        out.rename_self = true;
                        out.inside.extend(quote!(let #renamed = &mut *#self_token;));
                    }
                    Some(SelfKind::Value) => {
                        out.rename_self = true;
                        let mutability = receiver.mutability.take();
                        let span = match &receiver.kind {
                            ReceiverKind::Typed(_, ty) => ty.span(),
                            _ => receiver.self_token.span,
                        };
                        let clone = clone_of(rt, &self_token, span);
                        let copy = Ident::new("__retry_self_clone", Span::mixed_site());
                        out.cloned(&quote!(#mutability #renamed), &copy, &clone);
                    }
                }
                continue;
            }
            FnArg::Typed(pt) => pt,
        };
        let passing = item::passing(&pt.ty);
        let ty_span = pt.ty.span();
        let copy = format_ident!("__retry_clone{}", i, span = Span::mixed_site());
        let forwarded = format_ident!("__retry_arg{}", i, span = Span::mixed_site());
        match &mut *pt.pat {
            Pat::Wild(_) if name_wildcards => {
                *pt.pat = Pat::Ident(PatIdent {
                    attrs: Vec::new(),
                    by_ref: None,
                    mutability: None,
                    ident: forwarded.clone(),
                    subpat: None,
                });
                out.forward.push(quote!(#forwarded));
            }
            Pat::Wild(_) => {}
            // a: &A
            Pat::Ident(PatIdent {
                by_ref: None,
                mutability: None,
                ident,
                subpat: None,
                ..
            }) if passing == Passing::Shared => out.forward.push(quote!(#ident)),
            // b: &mut B
            Pat::Ident(PatIdent {
                by_ref: None,
                mutability: None,
                ident,
                subpat: None,
                ..
            }) if passing == Passing::Mut => {
                out.inside.extend(quote!(let #ident = &mut *#ident;));
                out.forward.push(quote!(#ident));
            }
            // mut c: C
            Pat::Ident(PatIdent {
                by_ref: None,
                mutability,
                ident,
                subpat: None,
                ..
            }) if passing == Passing::Owned => {
                let mutability = mutability.take();
                let clone = clone_of(rt, ident, ty_span);
                out.cloned(&quote!(#mutability #ident), &copy, &clone);
                out.forward.push(quote!(#ident));
            }
            // (d, e): (D, E), and `mut x: &T`
            pat => {
                let name = format_ident!(
                    "__retry_arg{}",
                    i,
                    span = pat.span().resolved_at(Span::mixed_site())
                );
                let user_pat = std::mem::replace(
                    pat,
                    Pat::Ident(PatIdent {
                        attrs: Vec::new(),
                        by_ref: None,
                        mutability: None,
                        ident: name.clone(),
                        subpat: None,
                    }),
                );
                out.forward.push(quote!(#name));
                match passing {
                    Passing::Shared => out.inside.extend(quote!(let #user_pat = #name;)),
                    Passing::Mut => out.inside.extend(quote!(let #user_pat = &mut *#name;)),
                    Passing::Owned => {
                        let clone = clone_of(rt, &name, ty_span);
                        out.cloned(&quote!(#user_pat), &copy, &clone);
                    }
                }
            }
        }
    }
    out
}
