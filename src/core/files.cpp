// SPDX-License-Identifier: Apache-2.0
#include "dpforge/core/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dpforge/core/error.h"

namespace dpforge {

void write_file_atomic(const std::filesystem::path& path, std::string_view contents) {
  const std::filesystem::path temp = path.string() + ".partial";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw_input_error("cannot write {}: {}", path.string(), std::strerror(errno));
  }
  const char* data = contents.data();
  size_t left = contents.size();
  while (left > 0) {
    const ssize_t written = ::write(fd, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      throw_input_error("cannot write {}: {}", path.string(), std::strerror(saved));
    }
    data += written;
    left -= static_cast<size_t>(written);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    throw_input_error("cannot write {}: {}", path.string(), std::strerror(saved));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    throw_input_error("cannot write {}: {}", path.string(), std::strerror(saved));
  }
}

}  // namespace dpforge
