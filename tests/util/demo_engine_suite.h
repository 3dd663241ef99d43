// A GoogleTest fixture whose suite shares one Engine on the demo model (built by the demo_model
// target): loading the model is the slow part of these tests.
#ifndef JAMBA_TESTS_UTIL_DEMO_ENGINE_SUITE_H_
#define JAMBA_TESTS_UTIL_DEMO_ENGINE_SUITE_H_

#include <memory>

#include "gtest/gtest.h"
#include "jamba/engine.h"
#include "tests/util/test_util.h"

namespace jamba::testing {

class DemoEngineSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EngineOptions options;
    options.threads = 2;
    auto engine = Engine::Open(BinaryDir() + "/demo-model", options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }
  static void TearDownTestSuite() { engine_.reset(); }

  inline static std::unique_ptr<Engine> engine_;
};

}  // namespace jamba::testing

#endif  // JAMBA_TESTS_UTIL_DEMO_ENGINE_SUITE_H_
