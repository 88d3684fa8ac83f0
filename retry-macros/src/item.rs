// The function under `#[retry]`: its signature as syn parsed it, the body, and
// what the expansion needs to know about its receiver, parameters and return
// type.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::{
    Attribute, Block, Item, Receiver, ReceiverKind, ReturnType, Signature, Token, Type, Visibility,
};

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
        let whole_item = input.fork();
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = match input.parse() {
            Ok(sig) => sig,
            Err(not_a_signature) => return Err(not_a_function(&whole_item, not_a_signature)),
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

const GOES_ON_A_FN: &str = "`#[retry]` goes on a `fn`";

// The error for an item that is not a function, on the item's keyword and
// name (`struct Client`, `impl Display for Client`), naming what it is.
fn not_a_function(whole_item: ParseStream, not_a_signature: syn::Error) -> syn::Error {
    let item = whole_item.parse::<Item>().ok();
    match item.as_ref().and_then(what_it_is) {
        Some(NotAFunction { head, kind, hint }) => {
            let hint = hint.map(|hint| format!("; {hint}")).unwrap_or_default();
            syn::Error::new_spanned(head, format!("{GOES_ON_A_FN}, not on {kind}{hint}"))
        }
        // An item syn reads only as tokens, or a function in syntax it cannot
        // read yet: where the signature stopped being one says the most.
        None => syn::Error::new(
            not_a_signature.span(),
            format!("{GOES_ON_A_FN}: {not_a_signature}"),
        ),
    }
}

struct NotAFunction {
    // From the item's keyword to its name: what the error underlines.
    head: TokenStream,
    // "a struct", "an `impl` block", ...
    kind: &'static str,
    // Where the attribute goes instead, for items that hold functions.
    hint: Option<&'static str>,
}

fn what_it_is(item: &Item) -> Option<NotAFunction> {
    let head = |first: &dyn ToTokens, last: &dyn ToTokens| quote!(#first #last);
    let (head, kind) = match item {
        Item::Const(c) => (head(&c.const_token, &c.ident), "a `const`"),
        Item::Enum(e) => (head(&e.enum_token, &e.ident), "an enum"),
        Item::ExternCrate(e) => (head(&e.extern_token, &e.ident), "an `extern crate`"),
        Item::ForeignMod(f) => (f.abi.to_token_stream(), "an `extern` block"),
        // impl<T> Display for Client<T>
        Item::Impl(i) => (head(&i.impl_token, &i.self_ty), "an `impl` block"),
        Item::Macro(m) => match &m.ident {
            Some(name) => (head(&m.mac.path, name), "a macro definition"),
            None => (head(&m.mac.path, &m.mac.bang_token), "a macro call"),
        },
        Item::Mod(m) => (head(&m.mod_token, &m.ident), "a module"),
        Item::Static(s) => (head(&s.static_token, &s.ident), "a `static`"),
        Item::Struct(s) => (head(&s.struct_token, &s.ident), "a struct"),
        Item::Trait(t) => (head(&t.trait_token, &t.ident), "a trait"),
        Item::TraitAlias(t) => (head(&t.trait_token, &t.ident), "a trait alias"),
        Item::Type(t) => (head(&t.type_token, &t.ident), "a type alias"),
        Item::Union(u) => (head(&u.union_token, &u.ident), "a union"),
        Item::Use(u) => (head(&u.use_token, &u.tree), "a `use` declaration"),
        // `Item::Fn` (not reached: its signature would have parsed),
        // `Item::Verbatim`, and items newer than this list.
        _ => return None,
    };
    let hint = match item {
        Item::Impl(_) | Item::Trait(_) => Some("put it on each method that should retry"),
        Item::Mod(_) => Some("put it on each function that should retry"),
        _ => None,
    };
    Some(NotAFunction { head, kind, hint })
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

// How the function takes `self`. `None` for a kind of receiver that syn reads
// and this crate does not know (`ReceiverKind` grows with the language, as
// `&pin mut self` will): validation rejects it, so that expansion never
// guesses how to rebind it.
pub(crate) fn self_kind(receiver: &Receiver) -> Option<SelfKind> {
    let passing = match &receiver.kind {
        // self, mut self
        ReceiverKind::Value => Passing::Owned,
        // &self, &'a mut self
        ReceiverKind::Reference(_, _, None) => Passing::Shared,
        ReceiverKind::Reference(_, _, Some(_)) => Passing::Mut,
        // self: &Self, self: &mut Self, self: Box<Self>, ...
        ReceiverKind::Typed(_, ty) => passing(ty),
        _ => return None,
    };
    Some(match passing {
        Passing::Shared => SelfKind::Ref,
        Passing::Mut => SelfKind::RefMut,
        Passing::Owned => SelfKind::Value,
    })
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
