// Test helper: runs a program as a child process (the CLI, or a helper that must live in its own
// process so a test can prove something survives the process: a restart, a SIGKILL).
#ifndef JAMBA_TESTS_UTIL_SUBPROCESS_H_
#define JAMBA_TESTS_UTIL_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace jamba::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;      // the signal that ended it, else 0
  std::string out;     // everything it wrote to stdout
  std::string err;     // and to stderr
};

// Runs argv[0] (a path) with the given arguments, `input` on its stdin, and waits for it.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input = "");

// A running child whose stdout is a pipe the test reads; killed and reaped on destruction.
class ChildProcess {
 public:
  // Starts argv[0]; stdin is /dev/null, stderr is inherited. Returns a child with pid() <= 0 if
  // it could not be started.
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Reads stdout until a full line arrives (returned without '\n'); false at end of output.
  bool ReadLine(std::string* line);
  // Sends `signal` and reaps the child; returns the raw wait status.
  int KillAndWait(int signal);
  // Waits for the child to exit on its own; returns the raw wait status.
  int Wait();

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffered_;
};

}  // namespace jamba::testing

#endif  // JAMBA_TESTS_UTIL_SUBPROCESS_H_
