//! The Q-network's parameters copied out of burn into plain vectors, so exporters (the trainer's
//! `export`: safetensors and ONNX) need neither burn nor its tensor types.

use burn::nn::Linear;

use crate::DqnError;
use crate::model::{Activation, QNetwork};

/// One linear layer, `y = x·W + b`, with `W` row-major `[d_in, d_out]` (burn's layout).
#[derive(Debug, Clone, PartialEq)]
pub struct HostLinear {
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
    /// `[d_in, d_out]`, row-major.
    pub weight: Vec<f32>,
    /// `[d_out]` (zeros for a layer without bias).
    pub bias: Vec<f32>,
}

/// A [`QNetwork`]'s layers on the host, in the network's order.
#[derive(Debug, Clone, PartialEq)]
pub struct HostNetwork {
    /// Hidden layers, input to output.
    pub hidden: Vec<HostLinear>,
    /// Output layer: Q-values, or advantages when dueling.
    pub head: HostLinear,
    /// Value head (dueling only), `d_out` = 1.
    pub value: Option<HostLinear>,
    /// Activation after each hidden layer.
    pub activation: Activation,
}

fn host_linear(layer: &Linear) -> Result<HostLinear, DqnError> {
    let read = |data: burn::tensor::TensorData| {
        data.try_to_vec::<f32>().map_err(|e| DqnError::Backend(format!("reading back f32 weights: {e:?}")))
    };
    let [d_in, d_out] = layer.weight.val().dims();
    let weight = read(layer.weight.val().into_data())?;
    let bias = match &layer.bias {
        Some(b) => read(b.val().into_data())?,
        None => vec![0.0; d_out],
    };
    Ok(HostLinear { d_in, d_out, weight, bias })
}

impl QNetwork {
    /// Copies every parameter to the host.
    ///
    /// # Errors
    /// [`DqnError::Backend`] if the device cannot hand back `f32` values.
    pub fn to_host(&self) -> Result<HostNetwork, DqnError> {
        Ok(HostNetwork {
            hidden: self.hidden.iter().map(host_linear).collect::<Result<_, _>>()?,
            head: host_linear(&self.head)?,
            value: self.value.as_ref().map(host_linear).transpose()?,
            activation: self.activation,
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use crate::model::{Activation, QNetworkConfig};

    /// A forward pass over the host copy, by hand, matches burn's.
    #[test]
    fn host_copy_computes_the_same_q_values() {
        let cfg = QNetworkConfig {
            obs_dim: 3,
            n_actions: 2,
            hidden_sizes: vec![4],
            activation: Activation::Relu,
            dueling: true,
        };
        let device = Device::flex();
        let net = cfg.init(&device, &mut ChaCha8Rng::seed_from_u64(7));
        let host = net.to_host().unwrap();
        assert_eq!((host.hidden[0].d_in, host.hidden[0].d_out, host.head.d_out), (3, 4, 2));
        let x = [0.3f32, -1.2, 2.0];
        let dense = |l: &super::HostLinear, x: &[f32]| -> Vec<f32> {
            (0..l.d_out)
                .map(|j| l.bias[j] + (0..l.d_in).map(|i| x[i] * l.weight[i * l.d_out + j]).sum::<f32>())
                .collect()
        };
        let h: Vec<f32> = dense(&host.hidden[0], &x).into_iter().map(|v| v.max(0.0)).collect();
        let a = dense(&host.head, &h);
        let v = dense(host.value.as_ref().unwrap(), &h)[0];
        let mean = a.iter().sum::<f32>() / 2.0;
        let q: Vec<f32> = net
            .forward(Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, 3]), &device))
            .into_data()
            .try_to_vec()
            .unwrap();
        for k in 0..2 {
            assert!((q[k] - (v + a[k] - mean)).abs() < 1e-5, "{q:?}");
        }
    }
}
