//! A layer chain that shares the layers below it with the chain it was
//! built on. Step i of a Dockerfile has i layers; when every step's result
//! held its own copy of them (and the scheduler's memo and the cache-to
//! records held more), a build's memory grew with the square of its steps.
//! Here a step's chain is its own new layers on top of its input's chain.

use mybuild_graph::Digest;
use std::sync::Arc;

/// Layer diff_ids, base layer first. Cloning is a reference count.
#[derive(Clone, Default)]
pub struct Chain(Option<Arc<Link>>);

struct Link {
    below: Chain,
    /// Never empty: an empty top is the chain below itself.
    top: Vec<Digest>,
    len: usize,
}

impl Chain {
    pub fn new(layers: Vec<Digest>) -> Chain {
        Chain::on(&Chain::default(), layers)
    }

    /// `top` stacked on `below`, sharing it.
    pub fn on(below: &Chain, top: Vec<Digest>) -> Chain {
        if top.is_empty() {
            return below.clone();
        }
        let len = below.len() + top.len();
        Chain(Some(Arc::new(Link {
            below: below.clone(),
            top,
            len,
        })))
    }

    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |l| l.len)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The top-most layer.
    pub fn last(&self) -> Option<&Digest> {
        self.0.as_ref().and_then(|l| l.top.last())
    }

    /// Base layer first; walks the links once to find the base.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Digest> + '_ {
        let mut links = Vec::new();
        let mut at = self;
        while let Some(link) = &at.0 {
            links.push(link.as_ref());
            at = &link.below;
        }
        links.into_iter().rev().flat_map(|l| l.top.iter())
    }

    pub fn to_vec(&self) -> Vec<Digest> {
        self.iter().cloned().collect()
    }

    /// The same layers, sharing the longest of `bases` that this chain
    /// starts with (a cache hit read from disk, rebased on its input).
    pub fn rebased<'a>(&self, bases: impl IntoIterator<Item = &'a Chain>) -> Chain {
        let best = bases
            .into_iter()
            .filter(|b| b.len() <= self.len() && b.iter().zip(self.iter()).all(|(x, y)| x == y))
            .max_by_key(|b| b.len());
        match best {
            Some(base) => Chain::on(base, self.iter().skip(base.len()).cloned().collect()),
            None => self.clone(),
        }
    }
}

impl From<Vec<Digest>> for Chain {
    fn from(layers: Vec<Digest>) -> Chain {
        Chain::new(layers)
    }
}

impl PartialEq for Chain {
    fn eq(&self, other: &Chain) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Chain {}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Drop for Chain {
    /// Unlinks iteratively: dropping a 500-step chain must not recurse
    /// 500 frames deep.
    fn drop(&mut self) {
        let mut next = self.0.take();
        while let Some(link) = next {
            next = match Arc::try_unwrap(link) {
                Ok(mut link) => link.below.0.take(),
                Err(_) => None,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest::of(&[n])
    }

    #[test]
    fn a_chain_on_another_lists_both_and_shares_the_lower() {
        let base = Chain::new(vec![d(1), d(2)]);
        let top = Chain::on(&base, vec![d(3)]);
        assert_eq!(top.to_vec(), vec![d(1), d(2), d(3)]);
        assert_eq!((top.len(), top.last()), (3, Some(&d(3))));
        assert_eq!(top.iter().next_back(), Some(&d(3)));
        assert!(Arc::ptr_eq(
            top.0.as_ref().unwrap().below.0.as_ref().unwrap(),
            base.0.as_ref().unwrap()
        ));
        assert_eq!(Chain::on(&base, vec![]), base);
        assert!(Chain::default().is_empty() && Chain::default().last().is_none());
    }

    #[test]
    fn rebasing_shares_the_longest_matching_base_only() {
        let short = Chain::new(vec![d(1)]);
        let long = Chain::on(&short, vec![d(2)]);
        let other = Chain::new(vec![d(9), d(2)]);
        let read = Chain::new(vec![d(1), d(2), d(3)]);
        let rebased = read.rebased([&short, &other, &long]);
        assert_eq!(rebased, read);
        let below = &rebased.0.as_ref().unwrap().below;
        assert!(Arc::ptr_eq(
            below.0.as_ref().unwrap(),
            long.0.as_ref().unwrap()
        ));
        assert_eq!(read.rebased([&other]), read);
    }

    #[test]
    fn a_deep_chain_drops_without_recursing() {
        let mut chain = Chain::default();
        for i in 0..200_000u32 {
            chain = Chain::on(&chain, vec![Digest::of(&i.to_le_bytes())]);
        }
        assert_eq!(chain.len(), 200_000);
        drop(chain);
    }
}
