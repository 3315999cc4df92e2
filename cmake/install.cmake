# install.cmake: `make install` (PREFIX, DESTDIR) and what the Debian package ships: the binary,
# the systemd unit, the example configuration, the docs and (once rendered) the man pages.
# tests/packaging.sh installs into a scratch DESTDIR and checks every path below.
include(GNUInstallDirs)

set(CUSTODIA_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
set(CUSTODIA_CONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/custodia)
set(CUSTODIA_DOCDIR ${CMAKE_INSTALL_FULL_DOCDIR})
# systemd reads units from /usr/local/lib/systemd/system too; Debian 12 packages use
# /lib/systemd/system (debian/rules sets it).
set(CUSTODIA_SYSTEMD_UNITDIR "" CACHE PATH
    "where the systemd unit is installed (empty: <prefix>/lib/systemd/system)")
set(CUSTODIA_UNITDIR ${CUSTODIA_SYSTEMD_UNITDIR})
if(NOT CUSTODIA_UNITDIR)
    set(CUSTODIA_UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()

# The unit names the installed binary and configuration.
configure_file(${CMAKE_SOURCE_DIR}/packaging/custodia.service.in
    ${CMAKE_BINARY_DIR}/packaging/custodia.service @ONLY)

# The example configuration is the binary's own `config example` (every key of the table,
# commented out at its default).
set(EXAMPLE_CONFIG ${CMAKE_BINARY_DIR}/packaging/custodia.ini)
add_custom_command(OUTPUT ${EXAMPLE_CONFIG}
    COMMAND sh -c "\"$1\" config example > \"$2.tmp\" && mv \"$2.tmp\" \"$2\"" sh
            $<TARGET_FILE:custodia> ${EXAMPLE_CONFIG}
    DEPENDS custodia
    COMMENT "Writing the example configuration (custodia config example)" VERBATIM)
add_custom_target(example_config ALL DEPENDS ${EXAMPLE_CONFIG})

install(TARGETS custodia RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_BINARY_DIR}/packaging/custodia.service
    DESTINATION ${CUSTODIA_UNITDIR})
install(FILES ${EXAMPLE_CONFIG} DESTINATION ${CUSTODIA_CONFDIR})
install(FILES README.md docs/api.md docs/architecture.md docs/cli.md docs/configuration.md
    docs/openapi.yaml docs/operations.md docs/report.md docs/security.md
    DESTINATION ${CMAKE_INSTALL_DOCDIR})
# Man pages (docs/man/*.md rendered with scdoc into ${CMAKE_BINARY_DIR}/man/ at build time), by
# section: custodia.1 and custodia-COMMAND.1, custodia.ini.5.
install(DIRECTORY ${CMAKE_BINARY_DIR}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 OPTIONAL
    FILES_MATCHING PATTERN "*.1")
install(DIRECTORY ${CMAKE_BINARY_DIR}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man5 OPTIONAL
    FILES_MATCHING PATTERN "*.5")
