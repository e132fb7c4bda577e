//! A single-pass PRelu for tract: per-channel slopes on an NCHW f32 tensor, applied in place.
//! tract-onnx expands PRelu into three operators (multiply, greater-than, select), three passes
//! over the activation and two temporaries; in the embedding model's 33 PRelu layers that was
//! nearly half of its time. Registered in place of tract-onnx's PRelu by [`register`]; other
//! shapes (a scalar or non-constant slope, another rank) keep tract's own expansion.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::*;

/// Replaces tract-onnx's PRelu builder with the single-pass one.
pub fn register(onnx: &mut tract_onnx::Onnx) {
    onnx.op_register
        .insert("PRelu", |_, _| Ok((expand(PreluExpansion), vec![])));
}

/// The inference-time PRelu: the same type rules as tract's, a better wiring.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct PreluExpansion;

impl Expansion for PreluExpansion {
    fn name(&self) -> StaticName {
        "Prelu".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        let (input, output) = match (inputs.first(), outputs.first()) {
            (Some(input), Some(output)) => (input, output),
            _ => bail!("PRelu needs one input and one output"),
        };
        s.equals(&input.datum_type, &output.datum_type)?;
        s.equals(&input.shape, &output.shape)?;
        Ok(())
    }

    fn wire(
        &self,
        name: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let (&x, &slope) = match inputs {
            [x, slope] => (x, slope),
            _ => bail!("PRelu needs two inputs"),
        };
        let x_fact = model.outlet_fact(x)?.clone();
        let channels = x_fact
            .shape
            .as_concrete()
            .and_then(|shape| (shape.len() == 4).then(|| shape.get(1).copied()).flatten());
        let constant = model.outlet_fact(slope)?.konst.clone();
        if let (Some(channels), Some(constant), true) =
            (channels, constant, x_fact.datum_type == f32::datum_type())
            && constant.datum_type() == f32::datum_type()
            && constant.len() == channels
        {
            let view = constant.try_as_plain_ram()?;
            let slopes = view.as_slice::<f32>()?.to_vec();
            return model.wire_node(name, PreluPerChannel { slopes }, &[x]);
        }
        wire_generic(name, model, x, slope)
    }
}

/// The single output of a node just wired.
fn first(outlets: TVec<OutletId>) -> TractResult<OutletId> {
    outlets
        .first()
        .copied()
        .ok_or_else(|| format_err!("a wired node has no output"))
}

/// tract-onnx's own expansion: `x > 0 ? x : x * slope` as three operators.
fn wire_generic(
    name: &str,
    model: &mut TypedModel,
    x: OutletId,
    mut slope: OutletId,
) -> TractResult<TVec<OutletId>> {
    let rank = model.outlet_fact(x)?.rank();
    while model.outlet_fact(slope)?.rank() < rank {
        slope = first(model.wire_node(
            format!("{name}.add-axis-{}", model.outlet_fact(slope)?.rank()),
            AxisOp::Add(0),
            &[slope],
        )?)?;
    }
    let zero = tensor0(0.0)
        .cast_to_dt(model.outlet_fact(x)?.datum_type)?
        .into_owned()
        .broadcast_into_rank(rank)?;
    let scaled = first(model.wire_node(
        format!("{name}.mul"),
        tract_onnx::tract_hir::ops::math::mul(),
        &[x, slope],
    )?)?;
    let zero = model.add_const(format!("{name}.zero"), zero)?;
    let test = model.wire_node(
        format!("{name}.test"),
        tract_onnx::tract_core::ops::binary::TypedBinOp(
            tract_onnx::tract_core::ops::logic::comp_gt(),
            None,
        ),
        &[zero, x],
    )?;
    let test = first(test)?;
    model.wire_node(
        format!("{name}.iff"),
        tract_onnx::tract_core::ops::logic::Iff,
        &[test, scaled, x],
    )
}

/// PRelu with one slope per channel of an NCHW f32 tensor.
#[derive(Debug, Clone)]
pub struct PreluPerChannel {
    slopes: Vec<f32>,
}

/// Equal when the slopes are bit for bit the same (tract compares ops when it merges nodes).
impl PartialEq for PreluPerChannel {
    fn eq(&self, other: &Self) -> bool {
        self.slopes.len() == other.slopes.len()
            && self
                .slopes
                .iter()
                .zip(&other.slopes)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl Eq for PreluPerChannel {}

impl Op for PreluPerChannel {
    fn name(&self) -> StaticName {
        "PreluPerChannel".into()
    }

    op_as_typed_op!();
}

impl EvalOp for PreluPerChannel {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs
            .into_iter()
            .next()
            .ok_or_else(|| format_err!("PreluPerChannel needs its input"))?;
        // In place when this op holds the only reference (the usual case in a plan).
        let mut tensor = input.into_tensor();
        let shape = tensor.shape().to_vec();
        let plane: usize = shape.iter().skip(2).product();
        let channels = self.slopes.len();
        if plane == 0 || channels == 0 {
            return Ok(tvec!(tensor.into_tvalue()));
        }
        {
            let mut view = tensor.try_as_plain_ram_mut()?;
            let data = view.as_slice_mut::<f32>()?;
            for (index, values) in data.chunks_mut(plane).enumerate() {
                let slope = self.slopes.get(index % channels).copied().unwrap_or(1.0);
                for value in values {
                    let v = *value;
                    *value = if v > 0.0 { v } else { v * slope };
                }
            }
        }
        Ok(tvec!(tensor.into_tvalue()))
    }
}

impl TypedOp for PreluPerChannel {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs
            .first()
            .ok_or_else(|| format_err!("PreluPerChannel needs its input"))?;
        Ok(tvec!(input.without_value()))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_values_are_scaled_by_their_channel_slope_and_positive_ones_kept() {
        let op = PreluPerChannel {
            slopes: vec![0.5, 0.25],
        };
        let input = tensor1(&[-2.0f32, 3.0, -4.0, 1.0, -8.0, 0.0, 5.0, -1.0])
            .into_shape(&[1, 2, 2, 2])
            .map(IntoTValue::into_tvalue);
        let Ok(input) = input else { panic!("shape") };
        let Ok(out) = op.eval(&EvalContext::out_of_plan(), tvec!(input)) else {
            panic!("eval")
        };
        let Some(out) = out.first() else {
            panic!("no output")
        };
        let Ok(view) = out.try_as_plain_ram() else {
            panic!("view")
        };
        assert_eq!(
            view.as_slice::<f32>().ok(),
            Some(&[-1.0f32, 3.0, -2.0, 1.0, -2.0, 0.0, 5.0, -0.25][..])
        );
    }
}
