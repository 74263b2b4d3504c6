//! The subset of `onnx.proto` this crate writes, as hand-written prost messages.
//!
//! We derive the messages instead of generating them with `prost-build` so that building the
//! crate needs no `protoc` and no build script. Every field number and wire type below is copied
//! from the official schema (`onnx/onnx.proto` of onnx 1.23, the version the interop test
//! checks against; the fields used here have not changed since IR version 3). The schema is
//! proto2, so its `optional` scalars map to `Option<_>`: a proto3-style plain field would drop
//! zero values on the wire, and the ONNX checker rejects e.g. an `INT` attribute whose `i` is
//! absent. Its repeated scalars are unpacked unless the schema says `[packed = true]`. Fields we
//! never write are left out; prost skips them when decoding.

/// `message ModelProto` (fields 1–8, 14): the top-level container of a model file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProto {
    /// `optional int64 ir_version = 1`.
    #[prost(int64, optional, tag = "1")]
    pub ir_version: Option<i64>,
    /// `repeated OperatorSetIdProto opset_import = 8`.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// `optional string producer_name = 2`.
    #[prost(string, optional, tag = "2")]
    pub producer_name: Option<String>,
    /// `optional string producer_version = 3`.
    #[prost(string, optional, tag = "3")]
    pub producer_version: Option<String>,
    /// `optional string domain = 4`.
    #[prost(string, optional, tag = "4")]
    pub domain: Option<String>,
    /// `optional int64 model_version = 5`.
    #[prost(int64, optional, tag = "5")]
    pub model_version: Option<i64>,
    /// `optional string doc_string = 6`.
    #[prost(string, optional, tag = "6")]
    pub doc_string: Option<String>,
    /// `optional GraphProto graph = 7`.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// `repeated StringStringEntryProto metadata_props = 14`.
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// `message OperatorSetIdProto` (fields 1–2): an operator set the graph's nodes bind against.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OperatorSetIdProto {
    /// `optional string domain = 1`; empty or absent is the default `ai.onnx` domain.
    #[prost(string, optional, tag = "1")]
    pub domain: Option<String>,
    /// `optional int64 version = 2`.
    #[prost(int64, optional, tag = "2")]
    pub version: Option<i64>,
}

/// `message StringStringEntryProto` (fields 1–2): one key-value pair (proto2 has no maps).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StringStringEntryProto {
    /// `optional string key = 1`.
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    /// `optional string value = 2`.
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// `message GraphProto` (fields 1, 2, 5, 10–13): nodes in topological order, constant
/// tensors, and the typed inputs and outputs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphProto {
    /// `repeated NodeProto node = 1`.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// `optional string name = 2`.
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
    /// `repeated TensorProto initializer = 5`.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// `optional string doc_string = 10`.
    #[prost(string, optional, tag = "10")]
    pub doc_string: Option<String>,
    /// `repeated ValueInfoProto input = 11`.
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// `repeated ValueInfoProto output = 12`.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    /// `repeated ValueInfoProto value_info = 13`.
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// `message NodeProto` (fields 1–7): one operator application.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeProto {
    /// `repeated string input = 1`.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// `repeated string output = 2`.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// `optional string name = 3`.
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    /// `optional string op_type = 4`.
    #[prost(string, optional, tag = "4")]
    pub op_type: Option<String>,
    /// `optional string domain = 7`.
    #[prost(string, optional, tag = "7")]
    pub domain: Option<String>,
    /// `repeated AttributeProto attribute = 5`.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// `optional string doc_string = 6`.
    #[prost(string, optional, tag = "6")]
    pub doc_string: Option<String>,
}

/// `message AttributeProto` (fields 1–5, 7–9, 13, 20): a named operator attribute; `type` says
/// which one value field is set. Graph-valued fields (6, 10, 11) are left out: they would make
/// the messages recursive and we never write subgraphs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeProto {
    /// `optional string name = 1`.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// `optional string doc_string = 13`.
    #[prost(string, optional, tag = "13")]
    pub doc_string: Option<String>,
    /// `optional AttributeType type = 20`.
    #[prost(enumeration = "attribute_proto::AttributeType", optional, tag = "20")]
    pub r#type: Option<i32>,
    /// `optional float f = 2`.
    #[prost(float, optional, tag = "2")]
    pub f: Option<f32>,
    /// `optional int64 i = 3`.
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    /// `optional bytes s = 4` (UTF-8).
    #[prost(bytes = "vec", optional, tag = "4")]
    pub s: Option<Vec<u8>>,
    /// `optional TensorProto t = 5`.
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// `repeated float floats = 7` (unpacked).
    #[prost(float, repeated, packed = "false", tag = "7")]
    pub floats: Vec<f32>,
    /// `repeated int64 ints = 8` (unpacked).
    #[prost(int64, repeated, packed = "false", tag = "8")]
    pub ints: Vec<i64>,
    /// `repeated bytes strings = 9`.
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
}

/// Nested types of [`AttributeProto`].
pub mod attribute_proto {
    /// `enum AttributeType`: which value field of an [`AttributeProto`](super::AttributeProto)
    /// is in use.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum AttributeType {
        /// `UNDEFINED = 0`.
        Undefined = 0,
        /// `FLOAT = 1`: field `f`.
        Float = 1,
        /// `INT = 2`: field `i`.
        Int = 2,
        /// `STRING = 3`: field `s`.
        String = 3,
        /// `TENSOR = 4`: field `t`.
        Tensor = 4,
        /// `GRAPH = 5`: field `g` (not modelled here).
        Graph = 5,
        /// `FLOATS = 6`: field `floats`.
        Floats = 6,
        /// `INTS = 7`: field `ints`.
        Ints = 7,
        /// `STRINGS = 8`: field `strings`.
        Strings = 8,
        /// `TENSORS = 9`: field `tensors` (not modelled here).
        Tensors = 9,
        /// `GRAPHS = 10`: field `graphs` (not modelled here).
        Graphs = 10,
        /// `SPARSE_TENSOR = 11`: field `sparse_tensor` (not modelled here).
        SparseTensor = 11,
        /// `SPARSE_TENSORS = 12`: field `sparse_tensors` (not modelled here).
        SparseTensors = 12,
        /// `TYPE_PROTO = 13`: field `tp` (not modelled here).
        TypeProto = 13,
        /// `TYPE_PROTOS = 14`: field `type_protos` (not modelled here).
        TypeProtos = 14,
    }
}

/// `message TensorProto` (fields 1, 2, 8, 9, 12): a constant tensor. We store every element in
/// `raw_data` (fixed-width little-endian, row-major), so the typed `*_data` fields are left out.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// `repeated int64 dims = 1` (unpacked); empty for a scalar.
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    /// `optional int32 data_type = 2`, a [`tensor_proto::DataType`] value.
    #[prost(int32, optional, tag = "2")]
    pub data_type: Option<i32>,
    /// `optional string name = 8`.
    #[prost(string, optional, tag = "8")]
    pub name: Option<String>,
    /// `optional string doc_string = 12`.
    #[prost(string, optional, tag = "12")]
    pub doc_string: Option<String>,
    /// `optional bytes raw_data = 9`.
    #[prost(bytes = "vec", optional, tag = "9")]
    pub raw_data: Option<Vec<u8>>,
}

/// Nested types of [`TensorProto`].
pub mod tensor_proto {
    /// `enum DataType`, the element types this crate uses or may meet (the schema has more,
    /// up to `FLOAT6E3M2 = 28`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum DataType {
        /// `UNDEFINED = 0`.
        Undefined = 0,
        /// `FLOAT = 1`: IEEE 754 binary32.
        Float = 1,
        /// `INT32 = 6`.
        Int32 = 6,
        /// `INT64 = 7`.
        Int64 = 7,
        /// `DOUBLE = 11`: IEEE 754 binary64.
        Double = 11,
    }
}

/// `message ValueInfoProto` (fields 1–3): the name and type of a graph input, output or
/// intermediate value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoProto {
    /// `optional string name = 1`.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// `optional TypeProto type = 2`.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    /// `optional string doc_string = 3`.
    #[prost(string, optional, tag = "3")]
    pub doc_string: Option<String>,
}

/// `message TypeProto` (fields 1, 6; only the `tensor_type` member of `oneof value`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProto {
    /// `oneof value { Tensor tensor_type = 1; ... }`.
    #[prost(oneof = "type_proto::Value", tags = "1")]
    pub value: Option<type_proto::Value>,
    /// `optional string denotation = 6`.
    #[prost(string, optional, tag = "6")]
    pub denotation: Option<String>,
}

/// Nested types of [`TypeProto`].
pub mod type_proto {
    /// `message TypeProto.Tensor` (fields 1–2): element type and shape of a dense tensor.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tensor {
        /// `optional int32 elem_type = 1`, a [`DataType`](super::tensor_proto::DataType) value.
        #[prost(int32, optional, tag = "1")]
        pub elem_type: Option<i32>,
        /// `optional TensorShapeProto shape = 2`.
        #[prost(message, optional, tag = "2")]
        pub shape: Option<super::TensorShapeProto>,
    }

    /// `oneof value` of [`TypeProto`](super::TypeProto); sequences, maps, optionals and sparse
    /// tensors (fields 4, 5, 8, 9) are not modelled.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// `Tensor tensor_type = 1`.
        #[prost(message, tag = "1")]
        TensorType(Tensor),
    }
}

/// `message TensorShapeProto` (field 1): one entry per axis.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// `repeated Dimension dim = 1`.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<tensor_shape_proto::Dimension>,
}

/// Nested types of [`TensorShapeProto`].
pub mod tensor_shape_proto {
    /// `message TensorShapeProto.Dimension` (fields 1–3): a fixed size or a named symbolic one.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        /// `oneof value { int64 dim_value = 1; string dim_param = 2; }`.
        #[prost(oneof = "dimension::Value", tags = "1, 2")]
        pub value: Option<dimension::Value>,
        /// `optional string denotation = 3`.
        #[prost(string, optional, tag = "3")]
        pub denotation: Option<String>,
    }

    /// Nested types of [`Dimension`].
    pub mod dimension {
        /// `oneof value` of [`Dimension`](super::Dimension).
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            /// `int64 dim_value = 1`: a fixed size.
            #[prost(int64, tag = "1")]
            DimValue(i64),
            /// `string dim_param = 2`: a symbolic size such as `"batch"`.
            #[prost(string, tag = "2")]
            DimParam(String),
        }
    }
}
