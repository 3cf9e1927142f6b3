// Windows' side of platform.hpp: the table of listening TCP ports (GetExtendedTcpTable),
// children started with CreateProcess inside a job object that kills them when we end, their
// output through an overlapped named pipe, and their exits waited for on their process handles;
// the service control manager (a service's states, its install and removal), the certificate
// store's trusted roots. No transparent sockets.
#ifdef _WIN32

// clang-format off
#include <winsock2.h>
#include <windows.h>
#include <iphlpapi.h>
#include <wincrypt.h>
// clang-format on
#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <map>
#include <mutex>

#include "shadowsocks/runtime/platform.hpp"

namespace ss::platform {

namespace {

std::string last_error_message(const char* what) {
  return std::string(what) + ": " +
         std::system_category().message(static_cast<int>(::GetLastError()));
}

// One argument for CreateProcess's command line, quoted as the C runtime's parser reads it
// back: backslashes are literal except before a quote.
void append_quoted(std::string& line, const std::string& arg) {
  if (!line.empty()) line += ' ';
  if (!arg.empty() && arg.find_first_of(" \t\n\v\"") == std::string::npos) {
    line += arg;
    return;
  }
  line += '"';
  std::size_t backslashes = 0;
  for (char c : arg) {
    if (c == '\\') {
      ++backslashes;
      continue;
    }
    if (c == '"') backslashes = backslashes * 2 + 1;
    line.append(backslashes, '\\');
    backslashes = 0;
    line += c;
  }
  line.append(backslashes * 2, '\\');
  line += '"';
}

}  // namespace

namespace {

// The service we run as (run_as_service), for notify_service_manager and the control handler.
struct service_state {
  std::string name;
  std::function<int()> body;
  SERVICE_STATUS_HANDLE handle = nullptr;
  std::mutex mutex;  // SetServiceStatus from the control thread and the service's
  SERVICE_STATUS status{};
  result<int, problem> outcome = problem{"the service did not start"};
};
service_state* service = nullptr;

void report(DWORD state, DWORD exit_code = NO_ERROR) {
  if (service == nullptr || service->handle == nullptr) return;
  std::lock_guard lock(service->mutex);
  auto& st = service->status;
  st.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  st.dwCurrentState = state;
  st.dwControlsAccepted =
      state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
  st.dwWin32ExitCode = exit_code == NO_ERROR ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
  st.dwServiceSpecificExitCode = exit_code;
  // The drain takes up to the grace period; the manager waits this long between reports.
  st.dwWaitHint = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING ? 30000 : 0;
  if (state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING) ++st.dwCheckPoint;
  ::SetServiceStatus(service->handle, &st);
}

DWORD WINAPI service_control(DWORD control, DWORD, void*, void*) {
  if (control == SERVICE_CONTROL_STOP || control == SERVICE_CONTROL_SHUTDOWN) {
    report(SERVICE_STOP_PENDING);
    std::raise(SIGTERM);  // the same drain as on Linux (lifecycle.cpp)
    return NO_ERROR;
  }
  return control == SERVICE_CONTROL_INTERROGATE ? NO_ERROR : ERROR_CALL_NOT_IMPLEMENTED;
}

void WINAPI service_main(DWORD, LPSTR*) {
  service->handle =
      ::RegisterServiceCtrlHandlerExA(service->name.c_str(), service_control, nullptr);
  if (service->handle == nullptr) return;
  report(SERVICE_START_PENDING);
  int code = service->body();
  service->outcome = code;
  report(SERVICE_STOPPED, static_cast<DWORD>(code));
}

}  // namespace

void notify_service_manager(const std::string& state) {
  if (service != nullptr && service->handle != nullptr) {
    if (state.starts_with("READY=1")) report(SERVICE_RUNNING);
    if (state.starts_with("STOPPING=1")) report(SERVICE_STOP_PENDING);
    return;
  }
  spdlog::debug("no service manager to tell {}", state.substr(0, state.find('\n')));
}

result<int, problem> run_as_service(const std::string& name, std::function<int()> body) {
  service_state st;
  st.name = name;
  st.body = std::move(body);
  service = &st;
  std::string table_name = name;
  SERVICE_TABLE_ENTRYA table[] = {{table_name.data(), service_main}, {nullptr, nullptr}};
  // Returns once the service has stopped (service_main returned).
  bool dispatched = ::StartServiceCtrlDispatcherA(table) != 0;
  service = nullptr;
  if (!dispatched) {
    return problem{last_error_message("not started by the service control manager")};
  }
  return st.outcome;
}

namespace {

// A handle of the service control manager's, closed with its scope.
struct sc_handle {
  SC_HANDLE h;
  ~sc_handle() {
    if (h != nullptr) ::CloseServiceHandle(h);
  }
};

}  // namespace

result<void, problem> install_service(const std::string& name, const std::string& display,
                                      const std::vector<std::string>& args) {
  std::string self(MAX_PATH * 4, '\0');
  auto length = ::GetModuleFileNameA(nullptr, self.data(), static_cast<DWORD>(self.size()));
  if (length == 0 || length >= self.size()) return problem{last_error_message("own path")};
  self.resize(length);
  std::string command_line;
  append_quoted(command_line, self);
  for (const auto& a : args)
    append_quoted(command_line, a);
  sc_handle manager{::OpenSCManagerA(nullptr, nullptr, SC_MANAGER_CREATE_SERVICE)};
  if (manager.h == nullptr) return problem{last_error_message("service control manager")};
  sc_handle created{::CreateServiceA(manager.h, name.c_str(), display.c_str(), SERVICE_ALL_ACCESS,
                                     SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                                     SERVICE_ERROR_NORMAL, command_line.c_str(), nullptr, nullptr,
                                     nullptr, nullptr, nullptr)};
  if (created.h == nullptr) return problem{last_error_message(("service " + name).c_str())};
  if (!::StartServiceA(created.h, 0, nullptr)) {
    return problem{last_error_message(("installed, but starting " + name).c_str())};
  }
  return {};
}

result<void, problem> uninstall_service(const std::string& name, std::chrono::seconds wait) {
  sc_handle manager{::OpenSCManagerA(nullptr, nullptr, SC_MANAGER_CONNECT)};
  if (manager.h == nullptr) return problem{last_error_message("service control manager")};
  sc_handle svc{
      ::OpenServiceA(manager.h, name.c_str(), SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE)};
  if (svc.h == nullptr) return problem{last_error_message(("service " + name).c_str())};
  SERVICE_STATUS status{};
  if (::ControlService(svc.h, SERVICE_CONTROL_STOP, &status)) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (::QueryServiceStatus(svc.h, &status) && status.dwCurrentState != SERVICE_STOPPED &&
           std::chrono::steady_clock::now() < deadline) {
      ::Sleep(100);
    }
  }
  if (!::DeleteService(svc.h)) return problem{last_error_message(("removing " + name).c_str())};
  return {};
}

namespace {

// The listening sockets of one address family, from the system's TCP table.
bool listening_in(ULONG family, std::uint16_t port) {
  std::vector<unsigned char> table(16 * 1024);
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto size = static_cast<DWORD>(table.size());
    DWORD rc =
        ::GetExtendedTcpTable(table.data(), &size, FALSE, family, TCP_TABLE_BASIC_LISTENER, 0);
    if (rc == ERROR_INSUFFICIENT_BUFFER) {
      table.resize(size + 4096);
      continue;
    }
    if (rc != NO_ERROR) return false;
    auto wanted = ::htons(port);
    if (family == AF_INET) {
      const auto* t = reinterpret_cast<const MIB_TCPTABLE*>(table.data());
      for (DWORD i = 0; i < t->dwNumEntries; ++i) {
        if (static_cast<std::uint16_t>(t->table[i].dwLocalPort) == wanted) return true;
      }
    } else {
      const auto* t = reinterpret_cast<const MIB_TCP6TABLE*>(table.data());
      for (DWORD i = 0; i < t->dwNumEntries; ++i) {
        if (static_cast<std::uint16_t>(t->table[i].dwLocalPort) == wanted) return true;
      }
    }
    return false;
  }
  return false;
}

// Our children's process handles, by process id: a handle held keeps the id from being reused.
std::mutex children_mutex;
std::map<pid_t, HANDLE> children;

HANDLE child_handle(pid_t pid) {
  std::lock_guard lock(children_mutex);
  auto it = children.find(pid);
  return it == children.end() ? nullptr : it->second;
}

void forget_child(pid_t pid) {
  std::lock_guard lock(children_mutex);
  auto it = children.find(pid);
  if (it == children.end()) return;
  ::CloseHandle(it->second);
  children.erase(it);
}

// The job every child is put in. Nobody else has a handle to it: when we end, however we
// end, the system closes ours and kills what is in it (JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE).
HANDLE children_job() {
  static HANDLE job = [] {
    HANDLE j = ::CreateJobObjectW(nullptr, nullptr);
    if (j == nullptr) return j;
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    if (!::SetInformationJobObject(j, JobObjectExtendedLimitInformation, &limits, sizeof limits)) {
      ::CloseHandle(j);
      return HANDLE{nullptr};
    }
    return j;
  }();
  return job;
}

}  // namespace

bool tcp_port_listening(std::uint16_t port) {
  return listening_in(AF_INET, port) || listening_in(AF_INET6, port);
}

result<started_child, problem> start_child(net::io_context& ctx, const std::string& program,
                                           const std::vector<std::string>& argv,
                                           const std::vector<std::string>& env) {
  HANDLE job = children_job();
  if (job == nullptr) return problem{last_error_message("job object")};
  // The output: a named pipe, overlapped on our side (Asio reads it through the completion
  // port), inherited by the child as its stdout and stderr.
  static std::atomic<unsigned> pipes{0};
  std::string pipe_name = "\\\\.\\pipe\\shadowsocks-cpp-" +
                          std::to_string(::GetCurrentProcessId()) + "-" + std::to_string(pipes++);
  HANDLE ours = ::CreateNamedPipeA(
      pipe_name.c_str(), PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
      PIPE_TYPE_BYTE | PIPE_WAIT, 1, 4096, 4096, 0, nullptr);
  if (ours == INVALID_HANDLE_VALUE) return problem{last_error_message("pipe")};
  SECURITY_ATTRIBUTES inherit{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  HANDLE theirs = ::CreateFileA(pipe_name.c_str(), GENERIC_WRITE, 0, &inherit, OPEN_EXISTING,
                                FILE_ATTRIBUTE_NORMAL, nullptr);
  HANDLE input = ::CreateFileA("NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inherit,
                               OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  auto close_all = [&] {
    for (HANDLE h : {ours, theirs, input}) {
      if (h != INVALID_HANDLE_VALUE) ::CloseHandle(h);
    }
  };
  if (theirs == INVALID_HANDLE_VALUE || input == INVALID_HANDLE_VALUE) {
    problem failed{last_error_message("pipe")};
    close_all();
    return failed;
  }

  std::string command_line;
  for (const auto& a : argv)
    append_quoted(command_line, a);
  std::string block;  // "NAME=value\0...\0\0"
  for (const auto& e : env) {
    block += e;
    block += '\0';
  }
  block += '\0';

  STARTUPINFOA si{};
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = input;
  si.hStdOutput = theirs;
  si.hStdError = theirs;
  PROCESS_INFORMATION pi{};
  // Suspended until it is in the job; a process group of its own, so that CTRL_BREAK reaches
  // it alone (ask_child_to_stop).
  BOOL created = ::CreateProcessA(program.c_str(), command_line.data(), nullptr, nullptr, TRUE,
                                  CREATE_SUSPENDED | CREATE_NEW_PROCESS_GROUP, block.data(),
                                  nullptr, &si, &pi);
  if (!created) {
    problem failed{last_error_message(("cannot start " + program).c_str())};
    close_all();
    return failed;
  }
  ::CloseHandle(theirs);
  ::CloseHandle(input);
  if (!::AssignProcessToJobObject(job, pi.hProcess)) {
    problem failed{last_error_message("job object")};
    ::TerminateProcess(pi.hProcess, 1);
    ::CloseHandle(pi.hThread);
    ::CloseHandle(pi.hProcess);
    ::CloseHandle(ours);
    return failed;
  }
  ::ResumeThread(pi.hThread);
  ::CloseHandle(pi.hThread);
  auto pid = static_cast<pid_t>(pi.dwProcessId);
  {
    std::lock_guard lock(children_mutex);
    children[pid] = pi.hProcess;
  }
  return started_child{pid, std::make_unique<child_output>(ctx, ours)};
}

bool ask_child_to_stop(pid_t pid) {
  // Console programs stop on CTRL_BREAK (Go's os.Interrupt, the C runtime's SIGBREAK); one that
  // does not is ended after the grace period (kill_child). Without a console of ours (a
  // service, a redirected start) there is nobody to send it to.
  return child_handle(pid) != nullptr && ::GetConsoleWindow() != nullptr &&
         ::GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, static_cast<DWORD>(pid)) != 0;
}

void kill_child(pid_t pid) {
  HANDLE h = child_handle(pid);
  if (h == nullptr) return;
  ::TerminateProcess(h, 1);
  ::WaitForSingleObject(h, INFINITE);
  forget_child(pid);
}

std::optional<int> exit_status(pid_t pid) {
  HANDLE h = child_handle(pid);
  if (h == nullptr || ::WaitForSingleObject(h, 0) != WAIT_OBJECT_0) return std::nullopt;
  DWORD code = 0;
  ::GetExitCodeProcess(h, &code);
  forget_child(pid);
  return static_cast<int>(code);
}

std::string describe_exit(int status) {
  auto code = static_cast<DWORD>(status);
  if (code >= 0xC0000000) {  // an NTSTATUS: the process crashed (0xC0000005: access violation)
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08lX", static_cast<unsigned long>(code));
    return std::string("crashed with exception ") + hex;
  }
  return "exited with status " + std::to_string(code);
}

struct exit_watch::state {
  net::windows::object_handle process;
};

result<void, problem> exit_watch::start(pid_t pid, std::function<void(int status)> exited) {
  HANDLE h = child_handle(pid);
  HANDLE copy = nullptr;
  if (h == nullptr || !::DuplicateHandle(::GetCurrentProcess(), h, ::GetCurrentProcess(), &copy,
                                         SYNCHRONIZE, FALSE, 0)) {
    return problem{last_error_message("process handle")};
  }
  st_ = std::make_shared<state>(state{net::windows::object_handle(ctx_, copy)});
  // The handle is signalled when the process exits; closing it (cancel) ends the wait.
  st_->process.async_wait([pid, exited = std::move(exited)](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled
    auto status = exit_status(pid);
    exited(status.value_or(0));
  });
  return {};
}

std::vector<inherited_socket> take_inherited_sockets() {
  return {};  // no socket activation on Windows
}

std::vector<std::vector<std::uint8_t>> trusted_root_certificates() {
  std::vector<std::vector<std::uint8_t>> out;
  HCERTSTORE roots = ::CertOpenSystemStoreW(0, L"ROOT");
  if (roots == nullptr) return out;
  const CERT_CONTEXT* cert = nullptr;
  while ((cert = ::CertEnumCertificatesInStore(roots, cert)) != nullptr) {
    out.emplace_back(cert->pbCertEncoded, cert->pbCertEncoded + cert->cbCertEncoded);
  }
  ::CertCloseStore(roots, 0);
  return out;
}

std::optional<tcp::endpoint> redirected_destination(tcp::socket&, const tcp::endpoint&) {
  return std::nullopt;  // no connection tracker to ask
}

std::error_code make_transparent(socket_handle, bool, bool) {
  return std::make_error_code(std::errc::operation_not_supported);
}

ssize_t receive_with_destination(socket_handle, mutable_bytes, udp::endpoint&,
                                 std::optional<udp::endpoint>& to) {
  to.reset();
  errno = EOPNOTSUPP;  // ss-redir, the only caller, is refused on Windows
  return -1;
}

}  // namespace ss::platform

#endif  // _WIN32
