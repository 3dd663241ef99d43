// cuda_bench: device figures for the CUDA backend. Measures the ceilings (device-to-device copy
// bandwidth, a large bf16 GEMM through cuBLAS, the backend's own prefill-shaped MatMul), then runs
// a Jamba-v0.1-shaped model (spec section 5.1, 52B parameters) with synthetic bf16 weights made on
// the device: prefill tokens/s at 8K and 128K context, decode tokens/s at batch 1, 8 and 32, the
// largest context whose KV cache fits beside the weights, and the HBM bandwidth decode achieves
// as a fraction of the measured copy bandwidth; last, decode again with the Mamba layers replayed
// as CUDA graphs (what the graph API would save the engine in launches). Prints a table;
// --json OUT writes the figures (rewritten after every stage).
//
// Why a driver of its own instead of engine::JambaModel: JambaModel loads only from a checkpoint
// directory (52B parameters of safetensors), and the engine library cannot be linked while it
// waits for the tokenizer branch. So Forward() below mirrors engine/jamba_model.cc (Forward) and
// engine/layers/{mamba_mixer,attention_mixer,feed_forward}.cc op for op, through the Backend
// interface only; keep the two in step. It preallocates each sequence's KV cache (the engine
// grows it by doubling) and can start decode sequences at any context by filling their KV rows
// with synthetic values (attention cost depends on the length, not the values).
//
// It never passes or fails on time; it exits non-zero only when something cannot run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_resources.h"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/synthetic_weights.h"
#include "nlohmann/json.hpp"

namespace jamba::bench {
namespace {

using kernels::AttentionArgs;
using kernels::CausalConvArgs;
using kernels::DeviceBuffer;
using kernels::DType;
using kernels::KvChunk;
using kernels::Matrix;
using kernels::MlpWeights;
using kernels::MoeArgs;
using kernels::SelectiveScanArgs;
using kernels::cuda::CudaBackend;
using kernels::cuda::SyntheticWeights;
using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// ---- model shape: ai21labs/Jamba-v0.1 (spec 5.1) ----
struct Shape {
  int64_t hidden = 4096;
  int layers = 32;
  int attn_period = 8, attn_offset = 4;
  int expert_period = 2, expert_offset = 1;
  int experts = 16, top_k = 2;
  int64_t ffn = 14336;
  int heads = 32, kv_heads = 8;
  int64_t d_state = 16;
  int d_conv = 4;
  int expand = 2;
  int64_t dt_rank = 256;
  int64_t vocab = 65536;
  float eps = 1e-6f;

  int64_t inner() const { return expand * hidden; }
  int64_t head_dim() const { return hidden / heads; }
  int64_t q_dim() const { return int64_t{heads} * head_dim(); }
  int64_t kv_dim() const { return int64_t{kv_heads} * head_dim(); }
  bool IsAttention(int layer) const { return layer % attn_period == attn_offset; }
  bool IsMoe(int layer) const { return layer % expert_period == expert_offset; }
  int attention_layers() const {
    int n = 0;
    for (int i = 0; i < layers; ++i) n += IsAttention(i) ? 1 : 0;
    return n;
  }
  int moe_layers() const {
    int n = 0;
    for (int i = 0; i < layers; ++i) n += IsMoe(i) ? 1 : 0;
    return n;
  }
  // fp32 K + V bytes per token over all attention layers (the engine's KV layout).
  int64_t kv_bytes_per_token() const {
    return int64_t{attention_layers()} * 2 * kv_dim() * int64_t{sizeof(float)};
  }
  int64_t mamba_state_floats() const { return inner() * (d_conv - 1 + d_state); }
  int64_t mamba_params() const {
    const int64_t i = inner(), r = dt_rank, n = d_state, h = hidden;
    return 2 * i * h + i * d_conv + i + (r + 2 * n) * i + r + 2 * n + i * r + i + i * n + i + h * i;
  }
  int64_t attention_params() const { return 2 * hidden * q_dim() + 2 * hidden * kv_dim(); }
  int64_t mlp_params() const { return 3 * hidden * ffn; }
  int64_t Params(bool active_only) const {
    int64_t p = 2 * vocab * hidden + hidden;  // embed, lm_head, final norm
    for (int l = 0; l < layers; ++l) {
      p += 2 * hidden + (IsAttention(l) ? attention_params() : mamba_params());
      p += IsMoe(l) ? int64_t{experts} * hidden + (active_only ? top_k : experts) * mlp_params()
                    : mlp_params();
    }
    return p;
  }
};

// ---- weights ----
struct MambaW {
  Matrix in_proj, x_proj, dt_proj, out_proj;
  const float *conv_w = nullptr, *conv_b = nullptr, *dt_norm = nullptr, *b_norm = nullptr;
  const float *c_norm = nullptr, *dt_bias = nullptr, *a = nullptr, *d = nullptr;
};
struct AttnW {
  Matrix q, k, v, o;
};
struct LayerW {
  const float *input_norm = nullptr, *pre_ff_norm = nullptr;
  MambaW mamba;
  AttnW attn;
  MlpWeights dense;
  Matrix router;
  std::vector<MlpWeights> experts;
};
struct Weights {
  Matrix embed, lm_head;
  const float* final_norm = nullptr;
  std::vector<LayerW> layers;
};

// Uniform(-sqrt(3/fan_in), +) keeps a unit-variance input at unit variance.
float InitScale(int64_t fan_in) { return std::sqrt(3.0f / static_cast<float>(fan_in)); }

absl::Status MakeWeights(SyntheticWeights& s, const Shape& m, DType dtype, DType mlp_dtype,
                         Weights& w) {
  auto mat = [&](Matrix& out, int64_t rows, int64_t cols, DType dt) -> absl::Status {
    auto r = s.MakeMatrix(rows, cols, dt, InitScale(cols));
    if (!r.ok()) return r.status();
    out = *r;
    return absl::OkStatus();
  };
  auto vec = [&](const float*& out, int64_t count, float lo, float hi) -> absl::Status {
    auto r = s.MakeVector(count, lo, hi);
    if (!r.ok()) return r.status();
    out = *r;
    return absl::OkStatus();
  };
  auto mlp = [&](MlpWeights& out) -> absl::Status {
    for (absl::Status st :
         {mat(out.gate, m.ffn, m.hidden, mlp_dtype), mat(out.up, m.ffn, m.hidden, mlp_dtype),
          mat(out.down, m.hidden, m.ffn, mlp_dtype)}) {
      if (!st.ok()) return st;
    }
    return absl::OkStatus();
  };
  if (auto st = s.MakeMatrix(m.vocab, m.hidden, dtype, 1.0f); st.ok()) {
    w.embed = *st;
  } else {
    return st.status();
  }
  if (absl::Status st = mat(w.lm_head, m.vocab, m.hidden, dtype); !st.ok()) return st;
  if (absl::Status st = vec(w.final_norm, m.hidden, 0.9f, 1.1f); !st.ok()) return st;
  w.layers.resize(static_cast<size_t>(m.layers));
  const int64_t i_dim = m.inner(), r = m.dt_rank, n = m.d_state;
  for (int l = 0; l < m.layers; ++l) {
    LayerW& lw = w.layers[static_cast<size_t>(l)];
    std::vector<absl::Status> steps;
    steps.push_back(vec(lw.input_norm, m.hidden, 0.9f, 1.1f));
    steps.push_back(vec(lw.pre_ff_norm, m.hidden, 0.9f, 1.1f));
    if (m.IsAttention(l)) {
      steps.push_back(mat(lw.attn.q, m.q_dim(), m.hidden, dtype));
      steps.push_back(mat(lw.attn.k, m.kv_dim(), m.hidden, dtype));
      steps.push_back(mat(lw.attn.v, m.kv_dim(), m.hidden, dtype));
      steps.push_back(mat(lw.attn.o, m.hidden, m.q_dim(), dtype));
    } else {
      MambaW& mw = lw.mamba;
      steps.push_back(mat(mw.in_proj, 2 * i_dim, m.hidden, dtype));
      steps.push_back(vec(mw.conv_w, i_dim * m.d_conv, -0.5f, 0.5f));
      steps.push_back(vec(mw.conv_b, i_dim, -0.1f, 0.1f));
      steps.push_back(mat(mw.x_proj, r + 2 * n, i_dim, dtype));
      steps.push_back(vec(mw.dt_norm, r, 0.9f, 1.1f));
      steps.push_back(vec(mw.b_norm, n, 0.9f, 1.1f));
      steps.push_back(vec(mw.c_norm, n, 0.9f, 1.1f));
      steps.push_back(mat(mw.dt_proj, i_dim, r, dtype));
      steps.push_back(vec(mw.dt_bias, i_dim, -4.0f, -2.0f));  // dt = softplus(.) ~ 0.02..0.13
      steps.push_back(vec(mw.a, i_dim * n, -16.0f, -1.0f));   // A = -exp(A_log)
      steps.push_back(vec(mw.d, i_dim, 0.5f, 1.5f));
      steps.push_back(mat(mw.out_proj, m.hidden, i_dim, dtype));
    }
    if (m.IsMoe(l)) {
      steps.push_back(mat(lw.router, m.experts, m.hidden, dtype));
      lw.experts.resize(static_cast<size_t>(m.experts));
      for (MlpWeights& e : lw.experts) steps.push_back(mlp(e));
    } else {
      steps.push_back(mlp(lw.dense));
    }
    for (const absl::Status& st : steps) {
      if (!st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

// ---- per-sequence state and scratch (the engine's SequenceState / ForwardWorkspace) ----
struct Sequence {
  std::vector<DeviceBuffer> conv, ssm, keys, values;  // per layer; empty where not used
  int64_t past = 0;
  int64_t capacity = 0;  // KV rows allocated
};

absl::StatusOr<std::unique_ptr<Sequence>> NewSequence(CudaBackend& be, const Shape& m,
                                                      int64_t capacity) {
  auto seq = std::make_unique<Sequence>();
  seq->capacity = capacity;
  const size_t layers = static_cast<size_t>(m.layers);
  seq->conv.resize(layers);
  seq->ssm.resize(layers);
  seq->keys.resize(layers);
  seq->values.resize(layers);
  for (int l = 0; l < m.layers; ++l) {
    const size_t i = static_cast<size_t>(l);
    if (m.IsAttention(l)) {
      const size_t bytes = static_cast<size_t>(capacity * m.kv_dim()) * sizeof(float);
      for (DeviceBuffer* b : {&seq->keys[i], &seq->values[i]}) {
        auto buffer = be.Allocate(bytes);
        if (!buffer.ok()) return buffer.status();
        *b = *std::move(buffer);
      }
    } else {
      const size_t conv = static_cast<size_t>(m.inner() * (m.d_conv - 1));
      const size_t ssm = static_cast<size_t>(m.inner() * m.d_state);
      auto c = be.Allocate(conv * sizeof(float));
      auto s = be.Allocate(ssm * sizeof(float));
      if (!c.ok()) return c.status();
      if (!s.ok()) return s.status();
      be.Fill(c->f32(), 0.0f, conv);
      be.Fill(s->f32(), 0.0f, ssm);
      seq->conv[i] = *std::move(c);
      seq->ssm[i] = *std::move(s);
    }
  }
  return seq;
}

class Workspace {
 public:
  enum Slot {
    kHidden,
    kNormed,
    kBranch,
    kXz,
    kConv,
    kXProj,
    kDtIn,
    kBc,
    kDt,
    kY,
    kQ,
    kK,
    kV,
    kAttn,
    kRows,
    kLogits,
    kNumSlots
  };

  absl::Status Reserve(CudaBackend& be, const Shape& m, int64_t t, int64_t rows) {
    const int64_t h = m.hidden, i = m.inner(), n = m.d_state, r = m.dt_rank;
    const int64_t floats[kNumSlots] = {
        t * h,          t * h,         t * h,    t * 2 * i,     t * i,         t * (r + 2 * n),
        t * r,          t * 2 * n,     t * i,    t * i,         t * m.q_dim(), t * m.kv_dim(),
        t * m.kv_dim(), t * m.q_dim(), rows * h, rows * m.vocab};
    for (int s = 0; s < kNumSlots; ++s) {
      const size_t bytes = static_cast<size_t>(floats[s]) * sizeof(float);
      if (buffers_[s].bytes() >= bytes) continue;
      buffers_[s].Reset();
      auto b = be.Allocate(bytes);
      if (!b.ok()) return b.status();
      buffers_[s] = *std::move(b);
    }
    return absl::OkStatus();
  }
  float* slot(Slot s) const { return buffers_[s].f32(); }
  void Clear() {
    for (DeviceBuffer& b : buffers_) b.Reset();
  }

 private:
  DeviceBuffer buffers_[kNumSlots];
};

// ---- the forward pass: engine/jamba_model.cc + engine/layers/*.cc, op for op ----
struct Slice {
  Sequence* seq;
  int64_t offset, tokens, past;
};

class Driver {
 public:
  Driver(CudaBackend& be, const Shape& m, const Weights& w) : be_(be), m_(m), w_(w) {}

  // With a non-empty tag, every Mamba layer (norms, mixer, FFN, residual adds) runs as a CUDA
  // graph captured on first use under "<tag>/L<layer>", the use CudaBackend's header allows: the
  // caller keeps the batch (sequences, token counts, workspace) fixed while the tag stays.
  // Attention layers stay eager (their `past` changes every step). Empty: everything eager.
  void set_graph_tag(std::string tag) { graph_tag_ = std::move(tag); }

  // Advances every sequence by its tokens; returns the last-token logits of each (host).
  absl::Status Forward(std::span<Sequence* const> seqs,
                       std::span<const std::vector<int32_t>> tokens, Workspace& ws,
                       std::vector<float>* logits) {
    std::vector<Slice> slices;
    std::vector<int32_t> all;
    for (size_t b = 0; b < seqs.size(); ++b) {
      Sequence* s = seqs[b];
      const int64_t n = static_cast<int64_t>(tokens[b].size());
      if (s->past + n > s->capacity) {
        return absl::ResourceExhaustedError("sequence KV capacity exceeded");
      }
      slices.push_back({s, static_cast<int64_t>(all.size()), n, s->past});
      all.insert(all.end(), tokens[b].begin(), tokens[b].end());
    }
    const int64_t total = static_cast<int64_t>(all.size());
    const int64_t rows_out = static_cast<int64_t>(seqs.size());
    if (absl::Status st = ws.Reserve(be_, m_, total, rows_out); !st.ok()) return st;
    const int64_t h = m_.hidden;
    float* hidden = ws.slot(Workspace::kHidden);
    be_.EmbeddingLookup(w_.embed, all, hidden);
    for (int l = 0; l < m_.layers; ++l) {
      if (graph_tag_.empty() || m_.IsAttention(l)) {
        Layer(l, slices, total, ws);
        continue;
      }
      const std::string key = absl::StrCat(graph_tag_, "/L", l);
      if (!be_.HasGraph(key)) {
        if (absl::Status st = be_.BeginCapture(); !st.ok()) return st;
        Layer(l, slices, total, ws);
        if (absl::Status st = be_.EndCapture(key); !st.ok()) return st;
      }
      if (absl::Status st = be_.Replay(key); !st.ok()) return st;
    }
    float* rows = ws.slot(Workspace::kRows);
    for (size_t b = 0; b < slices.size(); ++b) {
      const Slice& s = slices[b];
      be_.RmsNorm(hidden + (s.offset + s.tokens - 1) * h, h, 1, h, w_.final_norm, m_.eps,
                  rows + static_cast<int64_t>(b) * h, h);
    }
    float* dev_logits = ws.slot(Workspace::kLogits);
    be_.MatMul(w_.lm_head, rows, rows_out, dev_logits, nullptr);
    logits->resize(static_cast<size_t>(rows_out * m_.vocab));
    be_.CopyToHost(logits->data(), dev_logits, logits->size() * sizeof(float));
    for (const Slice& s : slices) s.seq->past += s.tokens;
    return absl::OkStatus();
  }

 private:
  // One decoder layer (engine/jamba_model.cc's loop body).
  void Layer(int l, const std::vector<Slice>& slices, int64_t total, Workspace& ws) {
    const int64_t h = m_.hidden;
    float* hidden = ws.slot(Workspace::kHidden);
    float* normed = ws.slot(Workspace::kNormed);
    float* branch = ws.slot(Workspace::kBranch);
    const LayerW& lw = w_.layers[static_cast<size_t>(l)];
    be_.RmsNorm(hidden, h, total, h, lw.input_norm, m_.eps, normed, h);
    if (m_.IsAttention(l)) {
      Attention(l, lw.attn, slices, total, ws, normed, branch);
    } else {
      Mamba(l, lw.mamba, slices, total, ws, normed, branch);
    }
    be_.Add(hidden, branch, static_cast<size_t>(total * h));
    be_.RmsNorm(hidden, h, total, h, lw.pre_ff_norm, m_.eps, normed, h);
    if (m_.IsMoe(l)) {
      MoeArgs args;
      args.tokens = total;
      args.x = normed;
      args.router = &lw.router;
      args.experts = lw.experts;
      args.top_k = m_.top_k;
      args.out = branch;
      be_.Moe(args);
    } else {
      be_.SwiGluMlp(lw.dense, normed, total, branch);
    }
    be_.Add(hidden, branch, static_cast<size_t>(total * h));
  }

  // engine/layers/mamba_mixer.cc
  void Mamba(int l, const MambaW& w, const std::vector<Slice>& slices, int64_t t, Workspace& ws,
             const float* in, float* out) {
    const int64_t i_dim = m_.inner(), n = m_.d_state, r = m_.dt_rank;
    const int64_t p_dim = r + 2 * n;
    const size_t li = static_cast<size_t>(l);
    float* xz = ws.slot(Workspace::kXz);
    float* conv = ws.slot(Workspace::kConv);
    float* xproj = ws.slot(Workspace::kXProj);
    float* dt_in = ws.slot(Workspace::kDtIn);
    float* bc = ws.slot(Workspace::kBc);
    float* dt = ws.slot(Workspace::kDt);
    float* y = ws.slot(Workspace::kY);
    be_.MatMul(w.in_proj, in, t, xz, nullptr);
    for (const Slice& s : slices) {
      CausalConvArgs a;
      a.tokens = s.tokens;
      a.channels = i_dim;
      a.kernel_size = m_.d_conv;
      a.u = xz + s.offset * 2 * i_dim;
      a.u_stride = 2 * i_dim;
      a.weight = w.conv_w;
      a.bias = w.conv_b;
      a.state = s.seq->conv[li].f32();
      a.out = conv + s.offset * i_dim;
      be_.CausalConv1dSilu(a);
    }
    be_.MatMul(w.x_proj, conv, t, xproj, nullptr);
    be_.RmsNorm(xproj, p_dim, t, r, w.dt_norm, m_.eps, dt_in, r);
    be_.RmsNorm(xproj + r, p_dim, t, n, w.b_norm, m_.eps, bc, 2 * n);
    be_.RmsNorm(xproj + r + n, p_dim, t, n, w.c_norm, m_.eps, bc + n, 2 * n);
    be_.MatMul(w.dt_proj, dt_in, t, dt, w.dt_bias);
    for (const Slice& s : slices) {
      SelectiveScanArgs a;
      a.tokens = s.tokens;
      a.channels = i_dim;
      a.state_size = n;
      a.x = conv + s.offset * i_dim;
      a.dt_raw = dt + s.offset * i_dim;
      a.a = w.a;
      a.b = bc + s.offset * 2 * n;
      a.b_stride = 2 * n;
      a.c = bc + s.offset * 2 * n + n;
      a.c_stride = 2 * n;
      a.d = w.d;
      a.z = xz + s.offset * 2 * i_dim + i_dim;
      a.z_stride = 2 * i_dim;
      a.state = s.seq->ssm[li].f32();
      a.y = y + s.offset * i_dim;
      be_.SelectiveScan(a);
    }
    be_.MatMul(w.out_proj, y, t, out, nullptr);
  }

  // engine/layers/attention_mixer.cc
  void Attention(int l, const AttnW& w, const std::vector<Slice>& slices, int64_t t, Workspace& ws,
                 const float* in, float* out) {
    const int64_t q_dim = m_.q_dim(), kv_dim = m_.kv_dim();
    const size_t li = static_cast<size_t>(l);
    float* q = ws.slot(Workspace::kQ);
    float* k = ws.slot(Workspace::kK);
    float* v = ws.slot(Workspace::kV);
    float* attn = ws.slot(Workspace::kAttn);
    be_.MatMul(w.q, in, t, q, nullptr);
    be_.MatMul(w.k, in, t, k, nullptr);
    be_.MatMul(w.v, in, t, v, nullptr);
    for (const Slice& s : slices) {
      float* keys = s.seq->keys[li].f32();
      float* values = s.seq->values[li].f32();
      const size_t bytes = static_cast<size_t>(s.tokens * kv_dim) * sizeof(float);
      be_.Copy(keys + s.past * kv_dim, k + s.offset * kv_dim, bytes);
      be_.Copy(values + s.past * kv_dim, v + s.offset * kv_dim, bytes);
      AttentionArgs a;
      a.tokens = s.tokens;
      a.past = s.past;
      a.num_heads = m_.heads;
      a.num_kv_heads = m_.kv_heads;
      a.head_dim = static_cast<int>(m_.head_dim());
      a.q = q + s.offset * q_dim;
      const KvChunk kv{keys, values, s.past + s.tokens};  // one fp32 chunk, as the engine's
      a.kv = {&kv, 1};
      a.out = attn + s.offset * q_dim;
      be_.Attention(a);
    }
    be_.MatMul(w.o, attn, t, out, nullptr);
  }

  CudaBackend& be_;
  const Shape& m_;
  const Weights& w_;
  std::string graph_tag_;
};

// ---- measurements ----
struct Options {
  std::string json_path;
  bool run_128k = true;
  int64_t prefill_chunk = 8192;
  int64_t decode_context = 2048;
  int decode_steps = 32;
  int decode_warmup = 3;
  std::vector<int> batches = {1, 8, 32};
  int layers = 32;
  bool int8_mlp = false;
  bool fast_bf16 = false;
};

void Usage() {
  std::fprintf(stderr,
               "usage: cuda_bench [--json OUT] [--skip-128k] [--prefill-chunk N]\n"
               "                  [--decode-context N] [--decode-steps N] [--batches 1,8,32]\n"
               "                  [--layers N] [--int8-mlp] [--bf16-activations]\n");
}

bool ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--json") {
      const char* v = next();
      if (v == nullptr) return false;
      o.json_path = v;
    } else if (a == "--skip-128k") {
      o.run_128k = false;
    } else if (a == "--prefill-chunk" || a == "--decode-context" || a == "--decode-steps" ||
               a == "--layers") {
      const char* v = next();
      if (v == nullptr) return false;
      const long long n = std::atoll(v);
      if (n <= 0) return false;
      if (a == "--prefill-chunk") o.prefill_chunk = n;
      if (a == "--decode-context") o.decode_context = n;
      if (a == "--decode-steps") o.decode_steps = static_cast<int>(n);
      if (a == "--layers") o.layers = static_cast<int>(n);
    } else if (a == "--batches") {
      const char* v = next();
      if (v == nullptr) return false;
      o.batches.clear();
      for (const char* p = v; *p != '\0';) {
        const int b = std::atoi(p);
        if (b <= 0) return false;
        o.batches.push_back(b);
        while (*p != '\0' && *p != ',') ++p;
        if (*p == ',') ++p;
      }
    } else if (a == "--int8-mlp") {
      o.int8_mlp = true;
    } else if (a == "--bf16-activations") {
      o.fast_bf16 = true;
    } else {
      return false;
    }
  }
  return true;
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Milliseconds between two events recorded on the backend's stream around `body`.
absl::StatusOr<double> TimeOnStream(CudaBackend& be, int iterations,
                                    const std::function<void()>& body) {
  auto start = kernels::cuda::CreateEvent();
  auto stop = kernels::cuda::CreateEvent();
  if (!start.ok()) return start.status();
  if (!stop.ok()) return stop.status();
  if (absl::Status s = JAMBA_CUDA_STATUS(cudaEventRecord(start->get(), be.stream())); !s.ok()) {
    return s;
  }
  for (int i = 0; i < iterations; ++i) body();
  if (absl::Status s = JAMBA_CUDA_STATUS(cudaEventRecord(stop->get(), be.stream())); !s.ok()) {
    return s;
  }
  if (absl::Status s = JAMBA_CUDA_STATUS(cudaEventSynchronize(stop->get())); !s.ok()) return s;
  float ms = 0;
  if (absl::Status s = JAMBA_CUDA_STATUS(cudaEventElapsedTime(&ms, start->get(), stop->get()));
      !s.ok()) {
    return s;
  }
  return static_cast<double>(ms);
}

// Device-to-device copy of 2 GiB; bytes read + written per second (as KINDS.md counts them).
absl::StatusOr<double> CopyBandwidth(CudaBackend& be) {
  const size_t bytes = size_t{2} << 30;
  auto a = be.Allocate(bytes);
  auto b = be.Allocate(bytes);
  if (!a.ok()) return a.status();
  if (!b.ok()) return b.status();
  be.Fill(a->f32(), 1.0f, bytes / sizeof(float));
  be.Copy(b->data(), a->data(), bytes);  // warm-up
  const int iterations = 10;
  auto ms = TimeOnStream(be, iterations, [&] { be.Copy(b->data(), a->data(), bytes); });
  if (!ms.ok()) return ms.status();
  return 2.0 * static_cast<double>(bytes) * iterations / (*ms * 1e-3);
}

// An 8192^3 bf16 GEMM (fp32 accumulate and output) straight through cuBLAS: TFLOP/s.
absl::StatusOr<double> GemmRate(CudaBackend& be) {
  const int n = 8192;
  const size_t elems = size_t{n} * n;
  auto a = be.Allocate(elems * 2);
  auto b = be.Allocate(elems * 2);
  auto c = be.Allocate(elems * 4);
  if (!a.ok()) return a.status();
  if (!b.ok()) return b.status();
  if (!c.ok()) return c.status();
  using kernels::cuda::WeightType;
  for (absl::Status s : {JAMBA_CUDA_STATUS(kernels::cuda::LaunchHashFill(
                             a->data(), WeightType::kBF16, static_cast<int64_t>(elems), 1, -1.0f,
                             1.0f, be.stream())),
                         JAMBA_CUDA_STATUS(kernels::cuda::LaunchHashFill(
                             b->data(), WeightType::kBF16, static_cast<int64_t>(elems), 2, -1.0f,
                             1.0f, be.stream()))}) {
    if (!s.ok()) return s;
  }
  auto handle = kernels::cuda::CreateCublas();
  if (!handle.ok()) return handle.status();
  if (absl::Status s = JAMBA_CUDA_STATUS(cublasSetStream(handle->get(), be.stream())); !s.ok()) {
    return s;
  }
  const float alpha = 1.0f, beta = 0.0f;
  absl::Status gemm_status;
  auto gemm = [&] {
    absl::Status s = JAMBA_CUDA_STATUS(cublasGemmEx(handle->get(), CUBLAS_OP_T, CUBLAS_OP_N, n, n,
                                                    n, &alpha, a->data(), CUDA_R_16BF, n, b->data(),
                                                    CUDA_R_16BF, n, &beta, c->data(), CUDA_R_32F, n,
                                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    if (gemm_status.ok()) gemm_status = s;
  };
  for (int i = 0; i < 3; ++i) gemm();
  const int iterations = 10;
  auto ms = TimeOnStream(be, iterations, gemm);
  if (!ms.ok()) return ms.status();
  if (!gemm_status.ok()) return gemm_status;
  return 2.0 * n * double{n} * n * iterations / (*ms * 1e-3) / 1e12;
}

// The backend's MatMul at a prefill shape (8192 tokens through a 14336 x 4096 bf16 weight):
// useful TFLOP/s (2 n rows cols per call, whatever the precision mode does internally).
absl::StatusOr<double> BackendMatMulRate(CudaBackend& be, SyntheticWeights& synth) {
  const int64_t n = 8192, rows = 14336, cols = 4096;
  auto w = synth.MakeMatrix(rows, cols, DType::kBF16, InitScale(cols));
  if (!w.ok()) return w.status();
  auto x = be.Allocate(static_cast<size_t>(n * cols) * sizeof(float));
  auto y = be.Allocate(static_cast<size_t>(n * rows) * sizeof(float));
  if (!x.ok()) return x.status();
  if (!y.ok()) return y.status();
  if (absl::Status s = JAMBA_CUDA_STATUS(kernels::cuda::LaunchHashFill(
          x->data(), kernels::cuda::WeightType::kF32, n * cols, 3, -1.0f, 1.0f, be.stream()));
      !s.ok()) {
    return s;
  }
  for (int i = 0; i < 2; ++i) be.MatMul(*w, x->f32(), n, y->f32(), nullptr);
  const int iterations = 5;
  auto ms = TimeOnStream(be, iterations, [&] { be.MatMul(*w, x->f32(), n, y->f32(), nullptr); });
  if (!ms.ok()) return ms.status();
  return 2.0 * n * double(rows) * cols * iterations / (*ms * 1e-3) / 1e12;
}

std::vector<int32_t> RandomTokens(int64_t count, int64_t vocab, uint32_t seed) {
  std::vector<int32_t> t(static_cast<size_t>(count));
  uint32_t x = seed * 2654435761u + 1;
  for (int32_t& v : t) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    v = static_cast<int32_t>(x % static_cast<uint32_t>(vocab));
  }
  return t;
}

struct PrefillResult {
  int64_t context = 0;
  double seconds = 0;
  double first_chunk_tps = 0, last_chunk_tps = 0;
  size_t peak_scratch_bytes = 0;  // pool peak above the weights and this sequence's KV
};

absl::StatusOr<PrefillResult> Prefill(CudaBackend& be, const Shape& m, Driver& driver,
                                      Workspace& ws, int64_t context, int64_t chunk) {
  auto seq = NewSequence(be, m, context);
  if (!seq.ok()) return seq.status();
  const std::vector<int32_t> tokens = RandomTokens(context, m.vocab, 7);
  std::vector<float> logits;
  Sequence* one[] = {seq->get()};
  PrefillResult r;
  r.context = context;
  be.Synchronize();
  const size_t live_before = be.pool_stats().live_bytes;
  be.ResetPeakMemory();
  const auto t0 = Clock::now();
  for (int64_t begin = 0; begin < context; begin += chunk) {
    const int64_t n = std::min(chunk, context - begin);
    const std::vector<int32_t> part(tokens.begin() + begin, tokens.begin() + begin + n);
    const auto c0 = Clock::now();
    if (absl::Status s = driver.Forward(one, std::span(&part, 1), ws, &logits); !s.ok()) return s;
    const double tps = static_cast<double>(n) / Seconds(c0, Clock::now());
    if (begin == 0) r.first_chunk_tps = tps;
    r.last_chunk_tps = tps;
  }
  r.seconds = Seconds(t0, Clock::now());
  r.peak_scratch_bytes = be.pool_stats().peak_live_bytes - live_before;
  return r;
}

struct DecodeResult {
  int batch = 0;
  int64_t context = 0;
  double step_ms = 0;
  double tokens_per_s = 0;
  double bytes_per_step = 0;
  double achieved_bps = 0;
};

// Weight bytes a decode step of `batch` tokens reads: everything but the experts, plus the
// experts expected to be hit under uniform routing, E (1 - (1 - k/E)^batch) per MoE layer.
double DecodeWeightBytes(const Shape& m, int batch, size_t bf16_bytes, size_t mlp_bytes) {
  const double dense_params = static_cast<double>(m.Params(true)) -
                              static_cast<double>(m.moe_layers()) * m.top_k * m.mlp_params() -
                              static_cast<double>(m.vocab * m.hidden);  // embedding: B rows only
  const double expected_experts =
      m.experts * (1.0 - std::pow(1.0 - static_cast<double>(m.top_k) / m.experts, batch));
  return dense_params * static_cast<double>(bf16_bytes) +
         m.moe_layers() * expected_experts * m.mlp_params() * static_cast<double>(mlp_bytes);
}

// Decode steps of `batch` sequences at o.decode_context. With `graphs`, the Mamba layers run as
// CUDA graphs captured in one untimed step after the eager warm-up (which builds the MoE tables).
absl::StatusOr<DecodeResult> Decode(CudaBackend& be, const Shape& m, Driver& driver, Workspace& ws,
                                    int batch, const Options& o, size_t mlp_elem_bytes,
                                    bool graphs) {
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<Sequence*> ptrs;
  const int64_t capacity = o.decode_context + o.decode_warmup + 1 + o.decode_steps;
  for (int b = 0; b < batch; ++b) {
    auto s = NewSequence(be, m, capacity);
    if (!s.ok()) return s.status();
    // Context rows of synthetic K/V: attention reads all of them every step.
    for (int l = 0; l < m.layers; ++l) {
      if (!m.IsAttention(l)) continue;
      for (DeviceBuffer* kv :
           {&(*s)->keys[static_cast<size_t>(l)], &(*s)->values[static_cast<size_t>(l)]}) {
        if (absl::Status st = JAMBA_CUDA_STATUS(kernels::cuda::LaunchHashFill(
                kv->data(), kernels::cuda::WeightType::kF32, o.decode_context * m.kv_dim(),
                static_cast<uint64_t>(1000 + b * 64 + l), -1.0f, 1.0f, be.stream()));
            !st.ok()) {
          return st;
        }
      }
    }
    (*s)->past = o.decode_context;
    ptrs.push_back(s->get());
    seqs.push_back(*std::move(s));
  }
  std::vector<float> logits;
  std::vector<std::vector<int32_t>> step_tokens(static_cast<size_t>(batch));
  auto step = [&](int i) -> absl::Status {
    for (int b = 0; b < batch; ++b) {
      step_tokens[static_cast<size_t>(b)] = RandomTokens(1, m.vocab, 100 + i * 977 + b);
    }
    return driver.Forward(ptrs, step_tokens, ws, &logits);
  };
  for (int i = 0; i < o.decode_warmup; ++i) {
    if (absl::Status s = step(i); !s.ok()) return s;
  }
  int index = o.decode_warmup;
  if (graphs) {
    driver.set_graph_tag(absl::StrCat("decode-b", batch));
    if (absl::Status s = step(index++); !s.ok()) {
      driver.set_graph_tag("");
      return s;
    }
  }
  absl::Status status;
  const auto t0 = Clock::now();
  for (int i = 0; i < o.decode_steps && status.ok(); ++i) status = step(index++);
  const double seconds = Seconds(t0, Clock::now());
  if (graphs) {
    driver.set_graph_tag("");
    be.ClearGraphs();
  }
  if (!status.ok()) return status;
  DecodeResult r;
  r.batch = batch;
  r.context = o.decode_context;
  r.step_ms = seconds * 1e3 / o.decode_steps;
  r.tokens_per_s = static_cast<double>(batch) * o.decode_steps / seconds;
  const double avg_context =
      static_cast<double>(o.decode_context) + o.decode_warmup + (o.decode_steps - 1) / 2.0;
  r.bytes_per_step =
      DecodeWeightBytes(m, batch, 2, mlp_elem_bytes) +
      batch * avg_context * static_cast<double>(m.kv_bytes_per_token()) +              // KV read
      batch * 2.0 * m.mamba_state_floats() * (m.layers - m.attention_layers()) * 4.0;  // state
  r.achieved_bps = r.bytes_per_step / (r.step_ms * 1e-3);
  return r;
}

struct MaxContext {
  int64_t tokens = 0;
  size_t free_bytes = 0;
  size_t reserve_bytes = 0;
  bool verified = false;
};

// The longest single sequence whose preallocated fp32 KV cache fits in what the weights leave,
// keeping room for a prefill chunk's workspace and scratch; verified by allocating it.
absl::StatusOr<MaxContext> LargestContext(CudaBackend& be, const Shape& m, size_t prefill_peak) {
  be.Synchronize();
  be.ReleaseCachedMemory();
  MaxContext r;
  if (m.kv_bytes_per_token() == 0) return r;  // no attention layer (a --layers override)
  size_t total = 0;
  if (absl::Status s = be.MemoryInfo(&r.free_bytes, &total); !s.ok()) return s;
  r.reserve_bytes = prefill_peak + (size_t{1} << 30);
  if (r.free_bytes <= r.reserve_bytes) return r;
  int64_t tokens = static_cast<int64_t>((r.free_bytes - r.reserve_bytes) /
                                        static_cast<size_t>(m.kv_bytes_per_token()));
  for (int attempt = 0; attempt < 20 && tokens > 0; ++attempt) {
    std::vector<DeviceBuffer> kv;
    bool ok = true;
    const size_t bytes = static_cast<size_t>(tokens * m.kv_dim()) * sizeof(float);
    for (int i = 0; i < 2 * m.attention_layers() && ok; ++i) {
      auto b = be.Allocate(bytes);
      ok = b.ok();
      if (ok) kv.push_back(*std::move(b));
    }
    kv.clear();
    be.ReleaseCachedMemory();
    if (ok) {
      r.tokens = tokens;
      r.verified = true;
      return r;
    }
    tokens = tokens * 97 / 100;
  }
  return r;
}

int Run(const Options& o) {
  if (CudaBackend::DeviceCount() == 0) {
    std::fprintf(stderr, "cuda_bench: no CUDA device (no driver or no GPU); nothing to measure\n");
    return 2;
  }
  kernels::cuda::CudaBackendOptions bo;
  if (o.fast_bf16) bo.matmul_precision = kernels::cuda::MatMulPrecision::kBf16Activations;
  auto created = CudaBackend::Create(bo);
  if (!created.ok()) {
    std::fprintf(stderr, "cuda_bench: %s\n", created.status().ToString().c_str());
    return 1;
  }
  CudaBackend& be = **created;
  auto fail = [](const char* what, const absl::Status& s) {
    std::fprintf(stderr, "cuda_bench: %s: %s\n", what, s.ToString().c_str());
    return 1;
  };
  Json out;
  // Rewritten after every stage, so a run cut short still leaves what it measured.
  auto write_json = [&]() {
    if (o.json_path.empty()) return true;
    std::ofstream f(o.json_path, std::ios::trunc);
    f << out.dump(2) << "\n";
    return f.good();
  };
  out["device"] = be.device_name();
  out["backend"] = be.Name();
  out["matmul_precision"] = o.fast_bf16 ? "bf16-activations" : "split-bf16";
  std::printf("cuda_bench on %s\n", be.Name().c_str());

  // Ceilings.
  auto copy_bps = CopyBandwidth(be);
  if (!copy_bps.ok()) return fail("copy bandwidth", copy_bps.status());
  be.ReleaseCachedMemory();
  auto gemm_tflops = GemmRate(be);
  if (!gemm_tflops.ok()) return fail("bf16 GEMM", gemm_tflops.status());
  be.ReleaseCachedMemory();
  double matmul_tflops = 0;
  {
    SyntheticWeights scratch_weights(be, 99);
    auto r = BackendMatMulRate(be, scratch_weights);
    if (!r.ok()) return fail("backend MatMul", r.status());
    matmul_tflops = *r;
  }
  be.ReleaseCachedMemory();
  out["copy_bandwidth_gbps"] = *copy_bps / 1e9;
  out["gemm_bf16_tflops"] = *gemm_tflops;
  out["backend_matmul_prefill_tflops"] = matmul_tflops;
  std::printf("  D2D copy bandwidth (read+write)        %10.1f GB/s\n", *copy_bps / 1e9);
  std::printf("  cuBLAS bf16 GEMM 8192^3 (fp32 out)     %10.1f TFLOP/s\n", *gemm_tflops);
  std::printf("  backend MatMul 8192x4096 -> 14336      %10.1f TFLOP/s (useful)\n", matmul_tflops);
  write_json();

  // The model.
  Shape m;
  m.layers = o.layers;
  const DType mlp_dtype = o.int8_mlp ? DType::kI8 : DType::kBF16;
  const size_t mlp_elem_bytes = o.int8_mlp ? 1 : 2;
  SyntheticWeights synth(be, 1);
  Weights w;
  const auto w0 = Clock::now();
  if (absl::Status s = MakeWeights(synth, m, DType::kBF16, mlp_dtype, w); !s.ok()) {
    return fail("synthetic weights", s);
  }
  be.Synchronize();
  const double weight_seconds = Seconds(w0, Clock::now());
  out["model"] = {{"shape", "ai21labs/Jamba-v0.1"},     {"layers", m.layers},
                  {"params", m.Params(false)},          {"active_params", m.Params(true)},
                  {"weight_bytes", synth.bytes()},      {"mlp_dtype", o.int8_mlp ? "int8" : "bf16"},
                  {"synthesis_seconds", weight_seconds}};
  std::printf("  model: %d layers, %.2fB params (%.2fB active), %.1f GiB of weights (%.1f s)\n",
              m.layers, m.Params(false) / 1e9, m.Params(true) / 1e9, synth.bytes() / kGiB,
              weight_seconds);
  write_json();

  Driver driver(be, m, w);
  Workspace ws;

  // Prefill.
  Json prefill = Json::array();
  size_t prefill_peak = 0;
  {
    auto warm = Prefill(be, m, driver, ws, 512, o.prefill_chunk);  // cuBLAS heuristics, pool
    if (!warm.ok()) return fail("prefill warm-up", warm.status());
  }
  std::vector<int64_t> contexts = {8192};
  if (o.run_128k) contexts.push_back(131072);
  for (int64_t context : contexts) {
    auto r = Prefill(be, m, driver, ws, context, o.prefill_chunk);
    if (!r.ok()) return fail("prefill", r.status());
    if (context == 8192) prefill_peak = r->peak_scratch_bytes;
    const double tps = static_cast<double>(context) / r->seconds;
    prefill.push_back({{"context", context},
                       {"chunk", o.prefill_chunk},
                       {"seconds", r->seconds},
                       {"tokens_per_s", tps},
                       {"first_chunk_tokens_per_s", r->first_chunk_tps},
                       {"last_chunk_tokens_per_s", r->last_chunk_tps}});
    std::printf(
        "  prefill %7lld tokens (chunks of %lld): %8.2f s  %9.1f tok/s "
        "(first chunk %.1f, last %.1f)\n",
        static_cast<long long>(context), static_cast<long long>(o.prefill_chunk), r->seconds, tps,
        r->first_chunk_tps, r->last_chunk_tps);
    out["prefill"] = prefill;
    write_json();
  }

  // Decode, eager (as the engine issues ops today).
  Json decode = Json::array();
  std::vector<DecodeResult> decodes;
  for (int batch : o.batches) {
    ws.Clear();
    be.ReleaseCachedMemory();
    auto r = Decode(be, m, driver, ws, batch, o, mlp_elem_bytes, /*graphs=*/false);
    if (!r.ok()) return fail("decode", r.status());
    decodes.push_back(*r);
    const double fraction = r->achieved_bps / *copy_bps;
    decode.push_back({{"batch", batch},
                      {"context", r->context},
                      {"steps", o.decode_steps},
                      {"step_ms", r->step_ms},
                      {"tokens_per_s", r->tokens_per_s},
                      {"bytes_per_step_estimate", r->bytes_per_step},
                      {"achieved_gbps", r->achieved_bps / 1e9},
                      {"fraction_of_copy_bandwidth", fraction}});
    out["decode"] = decode;
    write_json();
    std::printf("  decode batch %3d at context %lld: %8.2f ms/step %9.1f tok/s\n", batch,
                static_cast<long long>(r->context), r->step_ms, r->tokens_per_s);
  }
  out["decode_bytes_note"] =
      "bytes per step = non-expert weights + experts expected under uniform routing "
      "E(1-(1-k/E)^batch) per MoE layer + fp32 KV read + Mamba state read/write";

  // Largest context beside the weights.
  ws.Clear();
  auto mc = LargestContext(be, m, prefill_peak);
  if (!mc.ok()) return fail("largest context", mc.status());
  out["max_context"] = {{"tokens", mc->tokens},
                        {"kv_bytes_per_token", m.kv_bytes_per_token()},
                        {"free_bytes_after_weights", mc->free_bytes},
                        {"reserved_for_prefill_bytes", mc->reserve_bytes},
                        {"verified_by_allocation", mc->verified},
                        {"note",
                         "one sequence, KV preallocated in fp32; the engine's "
                         "doubling KV growth reaches about half of this"}};

  write_json();

  // Decode again with the Mamba layers replayed as CUDA graphs (CudaBackend::BeginCapture);
  // last, so that a failure here cannot cost the figures above.
  std::vector<double> graph_tps(decodes.size(), 0.0);
  for (size_t i = 0; i < o.batches.size(); ++i) {
    ws.Clear();
    be.ReleaseCachedMemory();
    auto r = Decode(be, m, driver, ws, o.batches[i], o, mlp_elem_bytes, /*graphs=*/true);
    if (r.ok()) {
      graph_tps[i] = r->tokens_per_s;
      decode[i]["graphs_step_ms"] = r->step_ms;
      decode[i]["graphs_tokens_per_s"] = r->tokens_per_s;
    } else {
      decode[i]["graphs_error"] = r.status().ToString();
    }
    out["decode"] = decode;
    write_json();
    std::printf("  decode batch %3d with CUDA graphs: %s\n", o.batches[i],
                r.ok() ? absl::StrCat(r->step_ms, " ms/step, ", r->tokens_per_s, " tok/s").c_str()
                       : r.status().ToString().c_str());
  }

  // Table.
  std::printf("\n  %-6s %-8s %9s %10s %14s %11s %12s\n", "batch", "context", "step ms", "tokens/s",
              "HBM GB/s(est)", "of copy BW", "graphs tok/s");
  for (size_t i = 0; i < decodes.size(); ++i) {
    const DecodeResult& r = decodes[i];
    std::printf("  %-6d %-8lld %9.2f %10.1f %14.1f %10.1f%% %12.1f\n", r.batch,
                static_cast<long long>(r.context), r.step_ms, r.tokens_per_s, r.achieved_bps / 1e9,
                100.0 * r.achieved_bps / *copy_bps, graph_tps[i]);
  }
  std::printf(
      "\n  largest context beside the weights: %lld tokens (%s; %.1f GiB free after "
      "weights, %.1f GiB reserved)\n",
      static_cast<long long>(mc->tokens), mc->verified ? "allocated" : "estimate",
      mc->free_bytes / kGiB, mc->reserve_bytes / kGiB);

  if (!o.json_path.empty()) {
    if (!write_json()) {
      std::fprintf(stderr, "cuda_bench: cannot write %s\n", o.json_path.c_str());
      return 1;
    }
    std::printf("  wrote %s\n", o.json_path.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace jamba::bench

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines reach a log even if cut short
  jamba::bench::Options options;
  if (!jamba::bench::ParseArgs(argc, argv, options)) {
    jamba::bench::Usage();
    return 64;
  }
  return jamba::bench::Run(options);
}
