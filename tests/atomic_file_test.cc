#include "hailo_device_plugin/atomic_file.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hailo_device_plugin/strings.h"
#include "testing/temp_dir.h"

namespace hailo_dp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

namespace fs = std::filesystem;
using testing::Slurp;
using testing::TempDir;

struct stat Stat(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path << ": " << std::strerror(errno);
  return st;
}

// The names in `dir` (no "." / "..").
std::vector<std::string> Entries(const std::string& dir) {
  std::set<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    names.insert(entry.path().filename().string());
  }
  return {names.begin(), names.end()};
}

class AtomicFileTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }
  TempDir dir_;
};

TEST_F(AtomicFileTest, WritesANewFileWithMode0644WhateverTheUmask) {
  const mode_t old_umask = ::umask(077);
  auto outcome = WriteFileAtomically(Path("spec.json"), "hello\n");
  ::umask(old_umask);
  ASSERT_TRUE(outcome.ok()) << Str(outcome.status().message());
  EXPECT_EQ(*outcome, WriteOutcome::kWritten);
  EXPECT_EQ(Slurp(Path("spec.json")), "hello\n");
  struct stat st = Stat(Path("spec.json"));
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_THAT(Entries(dir_.path()), ElementsAre("spec.json")) << "no temporary file left";
}

TEST_F(AtomicFileTest, AppliesTheGivenMode) {
  auto outcome = WriteFileAtomically(Path("secret"), "x", 0600);
  ASSERT_TRUE(outcome.ok()) << Str(outcome.status().message());
  EXPECT_EQ(Stat(Path("secret")).st_mode & 07777, 0600u);
}

TEST_F(AtomicFileTest, EmptyContent) {
  auto outcome = WriteFileAtomically(Path("empty"), "");
  ASSERT_TRUE(outcome.ok()) << Str(outcome.status().message());
  EXPECT_EQ(*outcome, WriteOutcome::kWritten);
  EXPECT_EQ(Stat(Path("empty")).st_size, 0);
  outcome = WriteFileAtomically(Path("empty"), "");
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, WriteOutcome::kUnchanged);
}

TEST_F(AtomicFileTest, UnchangedContentLeavesTheFileUntouched) {
  ASSERT_TRUE(WriteFileAtomically(Path("spec.json"), "same\n").ok());
  // Give the file an old mtime, so that any rewrite would show.
  struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, Path("spec.json").c_str(), times, 0), 0);
  const struct stat before = Stat(Path("spec.json"));

  auto outcome = WriteFileAtomically(Path("spec.json"), "same\n");
  ASSERT_TRUE(outcome.ok()) << Str(outcome.status().message());
  EXPECT_EQ(*outcome, WriteOutcome::kUnchanged);
  const struct stat after = Stat(Path("spec.json"));
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_THAT(Entries(dir_.path()), ElementsAre("spec.json"));
}

TEST_F(AtomicFileTest, ChangedContentIsANewInode) {
  ASSERT_TRUE(WriteFileAtomically(Path("spec.json"), "one\n").ok());
  const struct stat before = Stat(Path("spec.json"));
  // Keep a link to the old inode so that its number cannot be reused.
  ASSERT_EQ(::link(Path("spec.json").c_str(), Path("old").c_str()), 0);
  auto outcome = WriteFileAtomically(Path("spec.json"), "two, longer\n");
  ASSERT_TRUE(outcome.ok()) << Str(outcome.status().message());
  EXPECT_EQ(*outcome, WriteOutcome::kWritten);
  EXPECT_EQ(Slurp(Path("spec.json")), "two, longer\n");
  EXPECT_NE(Stat(Path("spec.json")).st_ino, before.st_ino) << "replaced by rename";
  EXPECT_EQ(Slurp(Path("old")), "one\n") << "the old inode was never written to";
  EXPECT_EQ(Stat(Path("spec.json")).st_mode & 07777, 0644u);
}

TEST_F(AtomicFileTest, SameLengthDifferentContentIsRewritten) {
  ASSERT_TRUE(WriteFileAtomically(Path("f"), "abc").ok());
  auto outcome = WriteFileAtomically(Path("f"), "abd");
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, WriteOutcome::kWritten);
  EXPECT_EQ(Slurp(Path("f")), "abd");
}

TEST_F(AtomicFileTest, WrongModeIsRewritten) {
  ASSERT_TRUE(WriteFileAtomically(Path("f"), "abc").ok());
  ASSERT_EQ(::chmod(Path("f").c_str(), 0600), 0);
  auto outcome = WriteFileAtomically(Path("f"), "abc");
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, WriteOutcome::kWritten);
  EXPECT_EQ(Stat(Path("f")).st_mode & 07777, 0644u);
}

TEST_F(AtomicFileTest, ReplacesAForeignFileAndKeepsBinaryContent) {
  {
    std::ofstream out(Path("f"));
    out << "written by someone else";
  }
  const std::string binary("a\0b\xff\n", 5);
  auto outcome = WriteFileAtomically(Path("f"), binary);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, WriteOutcome::kWritten);
  EXPECT_EQ(Slurp(Path("f")), binary);
}

TEST_F(AtomicFileTest, CreatesAMissingDirectory) {
  const std::string path = Path("a/b/spec.json");
  auto outcome = WriteFileAtomically(path, "x\n");
  ASSERT_TRUE(outcome.ok()) << Str(outcome.status().message());
  EXPECT_EQ(*outcome, WriteOutcome::kWritten);
  EXPECT_EQ(Slurp(path), "x\n");
  EXPECT_THAT(Entries(Path("a/b")), ElementsAre("spec.json"));
}

TEST_F(AtomicFileTest, LargeContent) {
  std::string big;
  for (int i = 0; big.size() < 3 * 1024 * 1024; ++i) big += Cat("line ", i, "\n");
  auto outcome = WriteFileAtomically(Path("big"), big);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(Slurp(Path("big")), big);
  outcome = WriteFileAtomically(Path("big"), big);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, WriteOutcome::kUnchanged);
}

// --- Failures: the error names the path and the cause; nothing is left over. ---

TEST_F(AtomicFileTest, DirectoryIsAFile) {
  { std::ofstream(Path("notadir")) << "a file"; }
  const std::string path = Path("notadir/spec.json");
  auto outcome = WriteFileAtomically(path, "x");
  ASSERT_FALSE(outcome.ok());
  const std::string message = Str(outcome.status().message());
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr(std::strerror(ENOTDIR)));
  EXPECT_EQ(Slurp(Path("notadir")), "a file");
  EXPECT_THAT(Entries(dir_.path()), ElementsAre("notadir"));
}

TEST_F(AtomicFileTest, TargetIsADirectory) {
  ASSERT_EQ(::mkdir(Path("spec.json").c_str(), 0755), 0);
  { std::ofstream(Path("spec.json/inside")) << "kept"; }
  auto outcome = WriteFileAtomically(Path("spec.json"), "x");
  ASSERT_FALSE(outcome.ok());
  const std::string message = Str(outcome.status().message());
  EXPECT_THAT(message, HasSubstr(Path("spec.json")));
  EXPECT_THAT(message, HasSubstr("rename"));
  EXPECT_THAT(message, HasSubstr(std::strerror(EISDIR)));
  EXPECT_EQ(Slurp(Path("spec.json/inside")), "kept");
  EXPECT_THAT(Entries(dir_.path()), ElementsAre("spec.json")) << "temporary file removed";
}

// RLIMIT_FSIZE binds root too: a write past it fails with EFBIG.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &limit) == 0;
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, old_handler_);
  }
  bool ok() const { return ok_; }

 private:
  struct rlimit saved_ {};
  sighandler_t old_handler_;
  bool ok_ = false;
};

TEST_F(AtomicFileTest, WriteFailureKeepsThePreviousFile) {
  ASSERT_TRUE(WriteFileAtomically(Path("spec.json"), "good\n").ok());
  const struct stat before = Stat(Path("spec.json"));
  absl::StatusOr<WriteOutcome> outcome;
  {
    FileSizeLimit limit(64);
    ASSERT_TRUE(limit.ok());
    outcome = WriteFileAtomically(Path("spec.json"), std::string(4096, 'x'));
  }
  ASSERT_FALSE(outcome.ok());
  const std::string message = Str(outcome.status().message());
  EXPECT_THAT(message, HasSubstr(Path("spec.json")));
  EXPECT_THAT(message, HasSubstr(std::strerror(EFBIG)));
  EXPECT_THAT(message, HasSubstr("previous file kept"));
  EXPECT_EQ(Slurp(Path("spec.json")), "good\n");
  EXPECT_EQ(Stat(Path("spec.json")).st_ino, before.st_ino);
  EXPECT_THAT(Entries(dir_.path()), ElementsAre("spec.json")) << "temporary file removed";
  // And it works again once the cause is gone.
  outcome = WriteFileAtomically(Path("spec.json"), std::string(4096, 'x'));
  ASSERT_TRUE(outcome.ok()) << Str(outcome.status().message());
  EXPECT_EQ(Slurp(Path("spec.json")), std::string(4096, 'x'));
}

// Runs `body` in a child process with a private mount namespace and a small
// tmpfs mounted on `dir`. The child reports problems through its output;
// returns "skip: ..." when mounting is not permitted.
std::string InPrivateTmpfs(const std::string& dir,
                           const std::function<std::string()>& body) {
  int fds[2];
  if (::pipe(fds) != 0) return Cat("pipe: ", std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) return Cat("fork: ", std::strerror(errno));
  if (pid == 0) {
    ::close(fds[0]);
    std::string result;
    if (::unshare(CLONE_NEWNS) != 0) {
      result = Cat("skip: unshare(CLONE_NEWNS): ", std::strerror(errno));
    } else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      result = Cat("skip: make / private: ", std::strerror(errno));
    } else if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=16k,mode=0755") != 0) {
      result = Cat("skip: mount tmpfs: ", std::strerror(errno));
    } else {
      result = body();
    }
    if (!result.empty()) (void)!::write(fds[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string output;
  char buffer[1024];
  ssize_t n;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) output.append(buffer, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    output += Cat(" (child ended abnormally, status ", status, ")");
  }
  return output;
}

// Checks what a failed write must leave, from inside the child.
std::string CheckFailure(const absl::StatusOr<WriteOutcome>& outcome,
                         const std::string& dir, const std::string& path, int cause) {
  std::string problems;
  if (outcome.ok()) return "the write succeeded";
  const std::string message = Str(outcome.status().message());
  if (message.find(path) == std::string::npos)
    problems += "path not named: " + message + "\n";
  if (message.find(std::strerror(cause)) == std::string::npos) {
    problems += Cat("cause '", std::strerror(cause), "' not named: ", message, "\n");
  }
  if (Slurp(path) != "good\n") problems += "previous content lost\n";
  std::vector<std::string> entries = Entries(dir);
  entries.erase(std::remove(entries.begin(), entries.end(), "filler"), entries.end());
  if (entries != std::vector<std::string>{"spec.json"}) {
    problems += Cat("left in the directory: ", Join(entries, " "), "\n");
  }
  return problems;
}

TEST_F(AtomicFileTest, FullFilesystemKeepsThePreviousFile) {
  const std::string dir = Path("mnt");
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  const std::string path = dir + "/spec.json";
  std::string result = InPrivateTmpfs(dir, [&]() -> std::string {
    if (!WriteFileAtomically(path, "good\n").ok()) return "first write failed";
    // Fill the filesystem.
    int fd = ::open((dir + "/filler").c_str(), O_WRONLY | O_CREAT, 0644);
    const std::string block(4096, 'f');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    ::close(fd);
    return CheckFailure(WriteFileAtomically(path, std::string(8192, 'x')), dir, path,
                        ENOSPC);
  });
  if (result.rfind("skip: ", 0) == 0) GTEST_SKIP() << result;
  EXPECT_EQ(result, "");
}

TEST_F(AtomicFileTest, ReadOnlyFilesystemKeepsThePreviousFile) {
  const std::string dir = Path("mnt");
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  const std::string path = dir + "/spec.json";
  std::string result = InPrivateTmpfs(dir, [&]() -> std::string {
    if (!WriteFileAtomically(path, "good\n").ok()) return "first write failed";
    if (::mount(nullptr, dir.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
      return Cat("skip: remount read-only: ", std::strerror(errno));
    }
    auto outcome = WriteFileAtomically(path, "new\n");
    std::string problems = CheckFailure(outcome, dir, path, EROFS);
    // Unchanged content needs no write, so it succeeds even read-only.
    auto unchanged = WriteFileAtomically(path, "good\n");
    if (!unchanged.ok() || *unchanged != WriteOutcome::kUnchanged) {
      problems += "unchanged content on a read-only filesystem was not kUnchanged\n";
    }
    return problems;
  });
  if (result.rfind("skip: ", 0) == 0) GTEST_SKIP() << result;
  EXPECT_EQ(result, "");
}

// Readers see the old content or the new, never a mix or a missing file.
TEST_F(AtomicFileTest, ReadersNeverSeeAPartialFile) {
  const std::string path = Path("spec.json");
  const std::string a(64 * 1024, 'a');
  const std::string b(96 * 1024, 'b');
  ASSERT_TRUE(WriteFileAtomically(path, a).ok());
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      absl::StatusOr<std::string> content = ReadFileToString(path);
      if (!content.ok() || (*content != a && *content != b)) bad.fetch_add(1);
      reads.fetch_add(1);
    }
  });
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(WriteFileAtomically(path, i % 2 == 0 ? b : a).ok());
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(bad.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_THAT(Entries(dir_.path()), ElementsAre("spec.json"));
}

TEST_F(AtomicFileTest, DistinctPathsFromSeveralThreads) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 50; ++i) {
        EXPECT_TRUE(
            WriteFileAtomically(Path(Cat("f", t)), Cat("thread ", t, " round ", i)).ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t)
    EXPECT_EQ(Slurp(Path(Cat("f", t))), Cat("thread ", t, " round 49"));
  EXPECT_THAT(Entries(dir_.path()), ElementsAre("f0", "f1", "f2", "f3"));
}

// --- ReadFileToString ---------------------------------------------------------------

TEST_F(AtomicFileTest, ReadFileToStringNamesPathAndCause) {
  auto missing = ReadFileToString(Path("missing"));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(Str(missing.status().message()), HasSubstr(Path("missing")));
  EXPECT_THAT(Str(missing.status().message()), HasSubstr(std::strerror(ENOENT)));

  auto dir = ReadFileToString(dir_.path());
  ASSERT_FALSE(dir.ok());
  EXPECT_THAT(Str(dir.status().message()), HasSubstr(dir_.path()));
  EXPECT_THAT(Str(dir.status().message()), HasSubstr(std::strerror(EISDIR)));

  ASSERT_TRUE(WriteFileAtomically(Path("f"), "content").ok());
  auto content = ReadFileToString(Path("f"));
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "content");
}

}  // namespace
}  // namespace hailo_dp
