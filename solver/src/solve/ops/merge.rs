//! The merge op: stacks its inputs' layer chains, first input lowest.

use crate::solve::error::SolveError;
use crate::solve::types::Value;
use mybuild_graph::Node;

/// Every input's layers in input order; each input must be layers.
pub(in crate::solve) fn run(node: &Node, inputs: &[Value]) -> Result<Value, SolveError> {
    let mut layers = Vec::new();
    for (i, v) in inputs.iter().enumerate() {
        let chain = v.layers().ok_or_else(|| SolveError::BadInput {
            step: node.name.clone(),
            input: i,
        })?;
        layers.extend(chain.iter().cloned());
    }
    Ok(Value::Layers(layers))
}
