#pragma once
/// \file `thread_local` for an object with a destructor: `thread_local per_thread<T> x(args);`,
/// then `*x`. Elsewhere it is the object itself. On Windows the object lives on the heap and is
/// never destroyed: mingw-w64 cannot run a thread_local's destructor at thread exit (GCC bug
/// 80816: its emulated TLS storage may be freed first, and the thread's exit crashes), so the
/// thread_local must be trivially destructible there. Our threads live as long as the process.

#include <utility>

namespace ss {

#ifdef _WIN32
template <class T>
class per_thread {
 public:
  template <class... Args>
  explicit per_thread(Args&&... args) : object_(new T(std::forward<Args>(args)...)) {}
  T& operator*() noexcept { return *object_; }

 private:
  T* object_;  // never deleted: see above
};
#else
template <class T>
class per_thread {
 public:
  template <class... Args>
  explicit per_thread(Args&&... args) : object_(std::forward<Args>(args)...) {}
  T& operator*() noexcept { return object_; }

 private:
  T object_;
};
#endif

}  // namespace ss
