<?php
/**
 * The HTTP calls to the Relatedly service: the admin API (bearer token) and the HTML fragment.
 *
 * `wp_remote_request()`, not `wp_safe_remote_request()`: the configured service may live on any host
 * and port (a loopback port, a container name), which the "safe" variant refuses.
 *
 * @package Relatedly
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * One answer of the service: the HTTP status (0 when none came) and body, or the transport error.
 */
final class Relatedly_Response {

	/**
	 * HTTP status, 0 when the request failed before an answer.
	 *
	 * @var int
	 */
	public $status;

	/**
	 * Response body.
	 *
	 * @var string
	 */
	public $body;

	/**
	 * Transport error or the service's error message, '' on success.
	 *
	 * @var string
	 */
	public $error;

	/**
	 * The service's stable error code (`article_not_found`, `forbidden`, …), '' when none.
	 *
	 * @var string
	 */
	public $code;

	/**
	 * @param int    $status HTTP status or 0.
	 * @param string $body   Body.
	 * @param string $error  Error text.
	 * @param string $code   Error code.
	 */
	public function __construct( int $status, string $body, string $error, string $code = '' ) {
		$this->status = $status;
		$this->body   = $body;
		$this->error  = $error;
		$this->code   = $code;
	}

	/**
	 * The decoded JSON body, or null.
	 *
	 * @return mixed
	 */
	public function json() {
		return json_decode( $this->body, true );
	}
}

/**
 * Calls to the service's public HTTP API.
 */
final class Relatedly_Client {

	/**
	 * Default seconds an admin call may take (an update of a large model takes a few seconds).
	 */
	const PUSH_TIMEOUT_SECONDS = 10;

	/**
	 * Default seconds a page waits for the fragment; never more than MAX_FRAGMENT_SECONDS.
	 */
	const FRAGMENT_TIMEOUT_SECONDS = 1.0;
	const MAX_FRAGMENT_SECONDS     = 2.0;

	/**
	 * Add or replace articles: `POST /v1/admin/articles`.
	 *
	 * @param array[] $articles Article records (see Relatedly_Article).
	 */
	public static function upsert( array $articles ): Relatedly_Response {
		return self::admin( 'POST', '/v1/admin/articles', wp_json_encode( array( 'articles' => array_values( $articles ) ) ) );
	}

	/**
	 * Take an article out of every list: `DELETE /v1/admin/articles/<id>?withdraw=true`. A withdrawal
	 * is the site unpublishing a post, not an editor's permanent takedown: published again, the post
	 * is served again. (A service that does not know `withdraw` ignores it and takes the article down
	 * for good; it then answers a later add of the id with `refused`.)
	 *
	 * @param string $article_id The article id (the post ID as a string).
	 */
	public static function remove( string $article_id ): Relatedly_Response {
		return self::admin( 'DELETE', '/v1/admin/articles/' . rawurlencode( $article_id ) . '?withdraw=true', null );
	}

	/**
	 * The server-rendered related block of an article: `GET /v1/articles/<id>/related.html`.
	 *
	 * @param string $article_id The article id.
	 * @param array  $query      Fragment options (limit, heading, …).
	 */
	public static function fragment( string $article_id, array $query ): Relatedly_Response {
		/**
		 * Filters the seconds a page waits for the related block (capped at 2).
		 *
		 * @param float $seconds Timeout.
		 */
		$timeout = (float) apply_filters( 'relatedly_fragment_timeout', self::FRAGMENT_TIMEOUT_SECONDS );
		$url     = Relatedly_Settings::service_url() . '/v1/articles/' . rawurlencode( $article_id ) . '/related.html';
		return self::send(
			add_query_arg( array_map( 'rawurlencode', $query ), $url ),
			array(
				'method'  => 'GET',
				'timeout' => max( 0.1, min( self::MAX_FRAGMENT_SECONDS, $timeout ) ),
			)
		);
	}

	/**
	 * An admin call with the bearer token, never cached.
	 *
	 * @param string      $method HTTP method.
	 * @param string      $path   Path below the service URL.
	 * @param string|null $body   JSON body.
	 */
	private static function admin( string $method, string $path, ?string $body ): Relatedly_Response {
		/**
		 * Filters the seconds an admin call (a push of changes) may take.
		 *
		 * @param float $seconds Timeout.
		 */
		$timeout = (float) apply_filters( 'relatedly_push_timeout', self::PUSH_TIMEOUT_SECONDS );
		$args    = array(
			'method'  => $method,
			'timeout' => $timeout,
			'headers' => array(
				'Authorization' => 'Bearer ' . Relatedly_Settings::admin_token(),
				'Accept'        => 'application/json',
			),
		);
		if ( null !== $body ) {
			$args['headers']['Content-Type'] = 'application/json';
			$args['body']                    = $body;
		}
		return self::send( Relatedly_Settings::service_url() . $path, $args );
	}

	/**
	 * One request; a transport failure or an error answer is described in `error`.
	 *
	 * @param string $url  Full URL.
	 * @param array  $args wp_remote_request() arguments.
	 */
	private static function send( string $url, array $args ): Relatedly_Response {
		$args['redirection'] = 0;
		$args['user-agent']  = 'Relatedly-WordPress/' . RELATEDLY_PLUGIN_VERSION . '; ' . home_url( '/' );
		$answer              = wp_remote_request( $url, $args );
		if ( is_wp_error( $answer ) ) {
			return new Relatedly_Response( 0, '', $answer->get_error_message() );
		}
		$status = (int) wp_remote_retrieve_response_code( $answer );
		$body   = (string) wp_remote_retrieve_body( $answer );
		$error  = '';
		$code   = '';
		if ( $status >= 300 ) {
			$decoded = json_decode( $body, true );
			$code    = isset( $decoded['error']['code'] ) ? (string) $decoded['error']['code'] : '';
			$error   = isset( $decoded['error']['message'] ) ? "HTTP $status: " . $decoded['error']['message'] : "HTTP $status";
		}
		return new Relatedly_Response( $status, $body, $error, $code );
	}
}
