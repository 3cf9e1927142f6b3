// The one translation unit that compiles Asio's implementation
// (BOOST_ASIO_SEPARATE_COMPILATION keeps it out of every other TU, which saves build time).
#include <boost/asio/impl/src.hpp>
