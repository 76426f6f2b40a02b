<?php
/**
 * The editor script's dependencies, written by hand (there is no build step).
 *
 * @package Relatedly
 */

return array(
	'dependencies' => array( 'wp-blocks', 'wp-element', 'wp-block-editor', 'wp-components', 'wp-i18n' ),
	'version'      => '0.1.0',
);
