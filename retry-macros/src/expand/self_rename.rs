// `self` cannot be rebound with `let`, so where the attempt needs its own
// `self` (by value: a clone; `&mut self`: a reborrow) the body's `self` is
// renamed to the local that holds it.
//
// Input:
//     fn f(self) -> R {
//         let a = self.x;
//         println!("{}", self.y);
//         fn nested(&self) { self.z }
//         ..
//     }
//
// Output (body):
//     {
//         let a = __retry_self.x;
//         println!("{}", __retry_self.y);
//         fn nested(&self) { self.z }
//         ..
//     }
//
// Macro arguments are tokens, so `self` is renamed there token by token,
// except in `self::path`. Nested items keep their own `self`.

use crate::item::Body;
use proc_macro2::{Group, Ident, Span, TokenStream, TokenTree};
use syn::visit_mut::{self, VisitMut};
use syn::{ExprPath, Item, Macro};

pub(super) fn rename_self(body: &mut Body) {
    match body {
        Body::Parsed(block) => RenameSelf.visit_block_mut(block),
        Body::Verbatim(tokens) => *tokens = rename_tokens(std::mem::take(tokens)),
    }
}

fn renamed(self_token: &Ident) -> Ident {
    Ident::new(
        "__retry_self",
        self_token.span().resolved_at(Span::mixed_site()),
    )
}

struct RenameSelf;

impl VisitMut for RenameSelf {
    fn visit_expr_path_mut(&mut self, expr: &mut ExprPath) {
        if expr.qself.is_none()
            && expr.path.leading_colon.is_none()
            && expr.path.segments.len() == 1
        {
            let segment = &mut expr.path.segments[0];
            if segment.ident == "self" && segment.arguments.is_none() {
                segment.ident = renamed(&segment.ident);
                return;
            }
        }
        visit_mut::visit_expr_path_mut(self, expr);
    }

    fn visit_macro_mut(&mut self, mac: &mut Macro) {
        mac.tokens = rename_tokens(std::mem::take(&mut mac.tokens));
    }

    fn visit_item_mut(&mut self, _item: &mut Item) {}
}

fn rename_tokens(tokens: TokenStream) -> TokenStream {
    let mut out = Vec::new();
    let mut iter = tokens.into_iter().peekable();
    while let Some(tt) = iter.next() {
        let tt = match tt {
            TokenTree::Ident(ident) if ident == "self" => {
                let is_path =
                    matches!(iter.peek(), Some(TokenTree::Punct(p)) if p.as_char() == ':');
                if is_path {
                    TokenTree::Ident(ident)
                } else {
                    TokenTree::Ident(renamed(&ident))
                }
            }
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), rename_tokens(g.stream()));
                group.set_span(g.span());
                TokenTree::Group(group)
            }
            other => other,
        };
        out.push(tt);
    }
    out.into_iter().collect()
}
