// The function under `#[retry]`: its signature as syn parsed it, the body, and
// what the expansion needs to know about its receiver, parameters and return
// type.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Block, Receiver, ReturnType, Signature, Token, Type, Visibility};

pub(crate) struct RetryFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) body: Body,
}

pub(crate) enum Body {
    Parsed(Box<Block>),
    // A body that syn cannot parse (newer syntax, or code being edited): kept
    // as tokens so that the function is still emitted (tracing's
    // `instrument_speculative`).
    Verbatim(TokenStream),
}

// How an argument is passed, read from its type.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Passing {
    Shared,
    Mut,
    Owned,
}

pub(crate) enum SelfKind {
    Ref,
    RefMut,
    Value,
}

impl Parse for RetryFn {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = match input.parse() {
            Ok(sig) => sig,
            Err(_) => {
                return Err(syn::Error::new(
                    Span::call_site(),
                    "`#[retry]` can only be applied to functions",
                ))
            }
        };
        if let Ok(semi) = input.parse::<Token![;]>() {
            return Err(syn::Error::new(
                semi.span,
                "`#[retry]` needs a function body; put it on the function's definition, not on its declaration",
            ));
        }
        let body = match input.parse::<TokenTree>()? {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
                let tokens = TokenStream::from(TokenTree::Group(g));
                match syn::parse2::<Block>(tokens.clone()) {
                    Ok(block) => Body::Parsed(Box::new(block)),
                    Err(_) => Body::Verbatim(tokens),
                }
            }
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "expected the function's body",
                ))
            }
        };
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the function"));
        }
        Ok(RetryFn {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

impl RetryFn {
    pub(crate) fn is_async(&self) -> bool {
        self.sig.asyncness.is_some()
    }

    // The declared return type, unless it is missing or `()`.
    pub(crate) fn return_type(&self) -> Option<&Type> {
        match &self.sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => match peel(ty) {
                Type::Tuple(t) if t.elems.is_empty() => None,
                _ => Some(ty),
            },
        }
    }
}

pub(crate) fn self_kind(receiver: &Receiver) -> SelfKind {
    let passing = if receiver.colon_token.is_some() {
        // self: &Self, self: &mut Self, self: Box<Self>, ...
        passing(&receiver.ty)
    } else if receiver.reference.is_some() {
        if receiver.mutability.is_some() {
            Passing::Mut
        } else {
            Passing::Shared
        }
    } else {
        Passing::Owned
    };
    match passing {
        Passing::Shared => SelfKind::Ref,
        Passing::Mut => SelfKind::RefMut,
        Passing::Owned => SelfKind::Value,
    }
}

pub(crate) fn passing(ty: &Type) -> Passing {
    match peel(ty) {
        Type::Reference(r) if r.mutability.is_some() => Passing::Mut,
        Type::Reference(_) => Passing::Shared,
        _ => Passing::Owned,
    }
}

fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => peel(&g.elem),
        Type::Paren(p) => peel(&p.elem),
        _ => ty,
    }
}

// Whether the tokens mention `impl` (an `impl Trait` type cannot be named in
// a turbofish or a `let` annotation).
pub(crate) fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(g) => mentions_impl(g.stream()),
        _ => false,
    })
}
