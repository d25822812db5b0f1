// main() of every test binary: each test process gets its own temporary directory
// (testing::TempDir()), so tests that write files can run in parallel under ctest -j, and its own
// profile cache ($TANDEM_CACHE_DIR) inside it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  std::string dir = (std::filesystem::temp_directory_path() / "tandem-test-XXXXXX").string();
  const bool own_dir = mkdtemp(dir.data()) != nullptr;
  if (own_dir) {
    setenv("TEST_TMPDIR", dir.c_str(), 1);
    // Node profiles measured by the tests (and the nodes they start) stay in it too.
    setenv("TANDEM_CACHE_DIR", (dir + "/cache").c_str(), 1);
  }
  const int rc = RUN_ALL_TESTS();
  if (own_dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return rc;
}
