# What `cmake --install` puts where, and the .deb CPack builds from it
# (`cpack -G DEB` in the build directory; deploy/README.md).
#
#   <prefix>/bin/cartd                     the binary
#   <sysconfdir>/cartd/cartd.ini           the default configuration
#   <sysconfdir>/logrotate.d/cartd         rotation of /var/log/cartd/*.log
#   <unitdir>/cartd.service, cartd@.service  systemd units (Type=notify)
#
# <sysconfdir> and <unitdir> follow the prefix the install runs with, as
# GNUInstallDirs would, but at install time so that the .deb (prefix /usr)
# and a `cmake --install --prefix /usr/local` both get their own: /etc and
# /lib/systemd/system for /usr (Debian's places), <prefix>/etc and
# <prefix>/lib/systemd/system (where systemd looks too) otherwise.
# CARTD_INSTALL_SYSCONFDIR and CARTD_INSTALL_UNITDIR override them.

set(CARTD_INSTALL_SYSCONFDIR "" CACHE PATH
    "Configuration directory (default: /etc for the prefix /usr, else <prefix>/etc)")
set(CARTD_INSTALL_UNITDIR "" CACHE PATH
    "systemd unit directory (default: /lib/systemd/system for the prefix /usr, else <prefix>/lib/systemd/system)")

# Installing (and cpack, which installs first) builds nothing: build cartd
# before (`make build`, or `cmake --build build --target cartd`), so that
# packaging does not compile every test and benchmark.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

install(TARGETS cartd RUNTIME DESTINATION bin)

set(cartd_deploy ${PROJECT_SOURCE_DIR}/deploy)
set(cartd_staged ${PROJECT_BINARY_DIR}/deploy-staged)
install(CODE "
  set(prefix \"\${CMAKE_INSTALL_PREFIX}\")
  set(sysconfdir \"${CARTD_INSTALL_SYSCONFDIR}\")
  if(NOT sysconfdir)
    if(prefix STREQUAL \"/usr\")
      set(sysconfdir /etc)
    else()
      set(sysconfdir \"\${prefix}/etc\")
    endif()
  endif()
  set(unitdir \"${CARTD_INSTALL_UNITDIR}\")
  if(NOT unitdir)
    if(prefix STREQUAL \"/usr\")
      set(unitdir /lib/systemd/system)
    else()
      set(unitdir \"\${prefix}/lib/systemd/system\")
    endif()
  endif()
  set(CARTD_BINARY \"\${prefix}/bin/cartd\")
  set(CARTD_CONFIG \"\${sysconfdir}/cartd/cartd.ini\")
  configure_file(${cartd_deploy}/systemd/cartd.service.in
                 ${cartd_staged}/cartd.service @ONLY)
  configure_file(${cartd_deploy}/systemd/cartd@.service.in
                 ${cartd_staged}/cartd@.service @ONLY)
  file(INSTALL DESTINATION \"\${sysconfdir}/cartd\" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES ${cartd_deploy}/cartd.ini)
  file(INSTALL DESTINATION \"\${sysconfdir}/logrotate.d\" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES ${cartd_deploy}/logrotate/cartd)
  file(INSTALL DESTINATION \"\${unitdir}\" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES ${cartd_staged}/cartd.service ${cartd_staged}/cartd@.service)
")

# -- the .deb -----------------------------------------------------------------

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cartd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "shopping-cart service: an actor system on CAF with an event journal")
set(CPACK_PACKAGE_DESCRIPTION
    "cartd serves shopping carts over HTTP/1.1 (REST). Every cart is a\n\
virtual actor under a supervisor tree; every accepted change is an event\n\
in a journal (SQLite on the node, or PostgreSQL for a cluster of nodes).\n\
The package runs one node as cartd.service (user cartd, configuration in\n\
/etc/cartd/cartd.ini, journal in /var/lib/cartd).")
set(CPACK_PACKAGE_CONTACT "cartd maintainers <cartd@localhost>")
# The configuration and the units go to absolute places (/etc, /lib): the
# package's install runs with DESTDIR and the prefix /usr (whatever
# CMAKE_INSTALL_PREFIX says).
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The libraries' packages (libcaf, libspdlog, libpq5, libsqlite3,
# libsystemd0, ...) from dpkg-shlibdeps; adduser for the system user.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "logrotate, postgresql")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${cartd_deploy}/debian/conffiles ${cartd_deploy}/debian/postinst
    ${cartd_deploy}/debian/prerm ${cartd_deploy}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
