//! The merge op: stacks its inputs' layer chains, first input lowest.

use crate::solve::chain::Chain;
use crate::solve::error::SolveError;
use crate::solve::types::Value;
use mybuild_graph::Node;

/// Every input's layers in input order; each input must be layers.
pub(in crate::solve) fn run(node: &Node, inputs: &[Value]) -> Result<Value, SolveError> {
    let mut layers = Chain::default();
    for (i, v) in inputs.iter().enumerate() {
        let chain = v.layers().ok_or_else(|| SolveError::BadInput {
            step: node.name.clone(),
            input: i,
        })?;
        // The first input is shared, the others' layers stacked on it.
        layers = match layers.is_empty() {
            true => chain.clone(),
            false => Chain::on(&layers, chain.to_vec()),
        };
    }
    Ok(Value::Layers(layers))
}
